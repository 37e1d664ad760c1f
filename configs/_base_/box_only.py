# What turns a Mask R-CNN config of this package into its box-only
# counterpart: Faster R-CNN (the same detector without the mask branch),
# trained and evaluated on boxes; the annotation files need no segmentation.
# A box-only config inherits a Mask R-CNN config and this file, and sets
#
#     from mmdet_vit_transfer.datasets import without_masks
#
#     model = {{_base_.faster_rcnn}}
#     train_dataloader = dict(dataset=dict(
#         check_masks=False,
#         pipeline=without_masks(_base_.train_dataloader.dataset.pipeline)))
#     ... the same for val_dataloader, then
#     val_evaluator = {{_base_.box_only_evaluator}}
#
# (configs/faster/mae_vitb_fasterrcnn_100e.py). The names differ from the
# Mask R-CNN config's, as mmengine requires of two bases.

# The batch padding of the Mask R-CNN base also pads masks; large-scale
# jitter already gives the full size, so box-only training needs none.
faster_rcnn = dict(
    type='FasterRCNN',
    data_preprocessor=dict(batch_augments=None),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))
box_only_evaluator = dict(metric='bbox')
