# Direct detection pre-training, stage 1, on the toy set: the toy detector
# from random init at half its resolution, as the paper's stage 1 runs at
# 448 px against 1024 (Li, Zhang, Zhang 2021; docs/direct_pretraining.md). 128 px is an
# 8x8 token grid; 4x4 windows tile it 2x2, as 8x8 windows tile the 16x16 grid
# of the 256 px model, so windows cover the same part of the image in both
# stages. Scale jitter narrowed to 0.8-1.2, twice the batch (BN statistics
# from 8 images), constant lr after the warmup: stage 2 anneals.
# Stage 2: `python tools/handoff_checkpoint.py STAGE1_CKPT
# configs/direct/toy_vit_tiny_direct_stage2.py OUT`, then
# toy_vit_tiny_direct_stage2.py with load_from=OUT. The toy set is small, so
# it is not repeated within an epoch as the COCO configs are.
_base_ = '../toy_vit_tiny_maskrcnn.py'
from mmdet_vit_transfer.datasets import at_image_size  # noqa: E402

image_size = (128, 128)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        img_size=image_size[0],
        pretrain_img_size=image_size[0],
        window_size=4))

train_pipeline = at_image_size(
    _base_.train_pipeline, image_size, ratio_range=(0.8, 1.2))
test_pipeline = at_image_size(_base_.test_pipeline, image_size)
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# lr for batch 8 by the linear rule from the toy model's 4e-4 at batch 4.
optim_wrapper = dict(optimizer=dict(lr=8e-4))
auto_scale_lr = dict(base_batch_size=8)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=0.25,
        convert_to_iter_based=True),
]
