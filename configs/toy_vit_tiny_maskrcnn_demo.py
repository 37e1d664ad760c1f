# `make demo`: the toy detector of configs/toy_vit_tiny_maskrcnn.py made
# cheaper per step and trained for longer, so that a run that fits in ten
# minutes on a 2-core CPU gives the same AP from seed to seed (within 0.025):
# 192 px inputs, a 4-block ViT of width 128 (every block global and feeding
# the neck), fewer RPN proposals in training and 14 epochs of 100 iterations.
# The toy config's 10 epochs at 256 px stop while its AP still climbs fast,
# and seeds differed by up to 0.14 box AP (the runs behind this recipe:
# docs/performance.md, "The demo").
_base_ = './toy_vit_tiny_maskrcnn.py'
from mmdet_vit_transfer.datasets import at_image_size  # noqa: E402

image_size = (192, 192)
embed_dims = 128

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        arch=dict(embed_dims=embed_dims, depth=4, num_heads=4),
        img_size=image_size[0],
        pretrain_img_size=image_size[0]),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels={{_base_.channels}},
            num_outs=5,
            norm_cfg={{_base_.norm_cfg}}),
    ],
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=200)))

train_pipeline = at_image_size(_base_.train_pipeline, image_size)
test_pipeline = at_image_size(_base_.test_pipeline, image_size)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=14, val_interval=14)
default_hooks = dict(checkpoint=dict(interval=7))
