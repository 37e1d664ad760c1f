# What turns a Mask R-CNN config of this package into its box-only
# counterpart: Faster R-CNN (the same detector without the mask branch),
# trained and evaluated on boxes; the annotation files need no segmentation.
# A box-only config inherits a Mask R-CNN config and this file, and sets
#
#     from mmdet_vit_transfer.datasets import box_only_dataloader
#
#     model = {{_base_.faster_rcnn}}
#     train_dataloader = box_only_dataloader(_base_.train_dataloader)
#     val_dataloader = box_only_dataloader(_base_.val_dataloader)
#     test_dataloader = val_dataloader
#     val_evaluator = dict(metric='bbox')
#     test_evaluator = val_evaluator
#
# (configs/faster/mae_vitb_fasterrcnn_100e.py).

# The batch padding of the Mask R-CNN base also pads masks; large-scale
# jitter already gives the full size, so box-only training needs none.
faster_rcnn = dict(
    type='FasterRCNN',
    data_preprocessor=dict(batch_augments=None),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))
