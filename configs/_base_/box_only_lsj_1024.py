# What turns a Mask R-CNN config of this package into its box-only
# counterpart: Faster R-CNN (the same detector without the mask branch),
# trained on boxes with the same large-scale jitter at 1024 and evaluated on
# boxes; the annotation files need no segmentation. A box-only config
# inherits a Mask R-CNN config and this file, and sets
#
#     model = {{_base_.faster_rcnn}}
#     train_dataloader = {{_base_.box_only_train_dataloader}}
#     val_dataloader = {{_base_.box_only_val_dataloader}}
#     test_dataloader = val_dataloader
#     val_evaluator = {{_base_.box_only_evaluator}}
#     test_evaluator = val_evaluator
#
# (configs/mae_vitb_fasterrcnn_100e.py). The names differ from the Mask
# R-CNN config's, as mmengine requires of two bases.

# The batch padding of the Mask R-CNN base also pads masks; large-scale
# jitter already gives the full size, so box-only training needs none.
faster_rcnn = dict(
    type='FasterRCNN',
    data_preprocessor=dict(batch_augments=None),
    roi_head=dict(mask_roi_extractor=None, mask_head=None))

# configs/_base_/datasets/coco_instance_lsj_1024.py without masks.
box_only_train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='LargeScaleJitter',
        scale=(1024, 1024),
        ratio_range=(0.1, 2.0),
        pad_val=dict(img=(104, 116, 124), seg=255)),
    dict(type='PackDetInputs'),
]
box_only_test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='PadToSize', size=(1024, 1024), pad_val=(104, 116, 124)),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
box_only_train_dataloader = dict(
    dataset=dict(check_masks=False, pipeline=box_only_train_pipeline))
box_only_val_dataloader = dict(
    dataset=dict(check_masks=False, pipeline=box_only_test_pipeline))
box_only_evaluator = dict(metric='bbox')
