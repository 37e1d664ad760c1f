# The toy detector: a tiny plain ViT Mask R-CNN trained from random init on
# the synthetic toy set (`python tools/make_toy_coco.py data/toy_coco`) on a
# CPU; the base of the toy iTPN, direct pre-training and toy benchmark runs.
# Same components as the paper-scale configs; smaller widths, 256 px inputs,
# 32 sampled RoIs per image and lr 8e-4 at batch 4. `make demo` trains a
# cheaper variant for longer: configs/toy_vit_tiny_maskrcnn_demo.py.
_base_ = [
    './_base_/models/mask_rcnn_plain_vit_b.py',
    './_base_/datasets/coco_instance_lsj_1024.py',
    './_base_/schedules/lsj_adamw_cosine.py', './_base_/default_runtime.py'
]
from mmdet_vit_transfer.datasets import at_image_size  # noqa: E402

image_size = (256, 256)
embed_dims = 192
channels = 64
num_classes = 3
norm_cfg = dict(type='SampleSyncBN', requires_grad=True)
roi_align = dict(type='RoIAlign', sampling_ratio=2)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, depth=8, num_heads=3),
        img_size=image_size[0],
        pretrain_img_size=image_size[0],
        window_size=8,
        drop_path_rate=0.0),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=channels,
            num_outs=5,
            norm_cfg=norm_cfg),
    ],
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels, roi_layer=roi_align),
        bbox_head=dict(
            in_channels=channels,
            conv_out_channels=channels,
            fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels, roi_layer=roi_align),
        mask_head=dict(
            in_channels=channels,
            conv_out_channels=channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

data_root = 'data/toy_coco/'
metainfo = dict(classes=('circle', 'triangle', 'square'))
# The base's pipelines at this size, with milder scale jitter than the
# paper's (0.1, 2.0): a short schedule on small images learns faster without
# the tiny and huge extremes. The other toy configs change their size.
train_pipeline = at_image_size(
    _base_.train_pipeline, image_size, ratio_range=(0.75, 1.33))
test_pipeline = at_image_size(_base_.test_pipeline, image_size)
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=8e-4, weight_decay=0.05))
train_cfg = dict(max_epochs=10, val_interval=10)
auto_scale_lr = dict(base_batch_size=4)
# The same numbers on every run.
randomness = dict(seed=0)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=5),
    visualization=dict(draw=False))
