# COCO instances at the low resolution of direct detection pre-training,
# stage 1 (Li, Zhang, Zhang 2021, released configs): resize around 448 by a
# factor in U(0.8, 1.2), random crop or pad to 448x448, flip; the training
# set repeated 4 times per epoch; 8 images per GPU (64 on 8 GPUs), which
# gives BN its large batches. LargeScaleJitter is the released
# Resize -> RandomCrop -> Pad chain in one pass. The released config tests at
# mmdet's default (1333, 800); this one tests at 448, the grid the stage-1
# model is built for, since stage 1 is evaluated only to follow its progress.
_base_ = '../../_base_/datasets/coco_instance_lsj_1024.py'
from mmdet_vit_transfer.datasets import at_image_size  # noqa: E402

image_size = (448, 448)
repeat_times = 4

# The LSJ base's pipelines at 448 with the narrower scale range.
train_pipeline = at_image_size(
    _base_.train_pipeline, image_size, ratio_range=(0.8, 1.2))
test_pipeline = at_image_size(_base_.test_pipeline, image_size)

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
