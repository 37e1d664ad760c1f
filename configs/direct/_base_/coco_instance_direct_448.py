# COCO instances at the low resolution of direct detection pre-training,
# stage 1 (Li, Zhang, Zhang 2021, released configs): resize around 448 by a
# factor in U(0.8, 1.2), random crop or pad to 448x448, flip; the training
# set repeated 4 times per epoch; 8 images per GPU (64 on 8 GPUs), which
# gives BN its large batches. LargeScaleJitter is the released
# Resize -> RandomCrop -> Pad chain in one pass. The released config tests at
# mmdet's default (1333, 800); this one tests at 448, the grid the stage-1
# model is built for, since stage 1 is evaluated only to follow its progress.
_base_ = '../../_base_/datasets/coco_instance_lsj_1024.py'

image_size = (448, 448)
repeat_times = 4

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='LargeScaleJitter',
        scale=image_size,
        ratio_range=(0.8, 1.2),
        pad_val=dict(img={{_base_.mean_pixel_bgr}}, seg=255)),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='PadToSize', size=image_size, pad_val={{_base_.mean_pixel_bgr}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=repeat_times,
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
