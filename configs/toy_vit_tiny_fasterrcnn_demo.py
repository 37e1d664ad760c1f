# The demo's toy detector (toy_vit_tiny_maskrcnn_demo.py) without its mask
# branch: Faster R-CNN for box-only toy sets (`python tools/make_toy_coco.py
# DIR --box-only`), trained on boxes and evaluated on boxes.
_base_ = [
    './toy_vit_tiny_maskrcnn_demo.py', './_base_/box_only_lsj_1024.py'
]

model = {{_base_.faster_rcnn}}

# The demo's pipelines (192 px, milder scale jitter) without masks.
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='LargeScaleJitter',
        scale={{_base_.image_size}},
        ratio_range=(0.75, 1.33),
        pad_val=dict(img={{_base_.mean_pixel_bgr}}, seg=255)),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='Resize', scale={{_base_.image_size}}, keep_ratio=True),
    dict(
        type='PadToSize',
        size={{_base_.image_size}},
        pad_val={{_base_.mean_pixel_bgr}}),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(check_masks=False, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(check_masks=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = {{_base_.box_only_evaluator}}
test_evaluator = val_evaluator
