# iTPN-B, pixel pre-training, Mask R-CNN 1x with the published fine-tuning
# recipe (iTPN's det/configs/itpn/pixel_itpn_base_1x_ld090_dp005.py): 53.0
# box / 46.5 mask AP on COCO val2017 as published. DETR-style multi-scale
# training with crops, AdamW lr 2e-4, weight decay 0.05, layer decay 0.90,
# drop path 0.05, 12 epochs with x0.1 steps after epochs 9 and 11, 500
# warm-up iterations, 64 images per batch (32 GPUs x 2) in mixed precision
# (`--amp`). Heads as published: RPN with 1 conv, 4conv1fc box head with
# sync BN and GIoU loss on decoded boxes, 4-conv mask head without norm.
# The other iTPN 1x configs inherit this file.
_base_ = [
    './_base_/models/mask_rcnn_itpn_b.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', './_base_/default_runtime.py'
]

model = dict(
    # Any image size: padded to a multiple of 32, no fixed-size padding.
    data_preprocessor=dict(pad_size_divisor=32, batch_augments=None),
    backbone=dict(
        drop_path_rate=0.05,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/itpn_pixel_base.pth',
            abs_pos_init='pretrained',
            rel_pos_init='none')),
    rpn_head=dict(num_convs=1),
    roi_head=dict(
        bbox_head=dict(
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0)),
        mask_head=dict(norm_cfg=None)))

# Multi-scale training with DETR's random crop (as published).
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[
            dict(
                type='RandomChoiceResize',
                scales=[(480, 1333), (512, 1333), (544, 1333), (576, 1333),
                        (608, 1333), (640, 1333), (672, 1333), (704, 1333),
                        (736, 1333), (768, 1333), (800, 1333)],
                keep_ratio=True)
        ],
                    [
                        dict(
                            type='RandomChoiceResize',
                            scales=[(400, 1333), (500, 1333), (600, 1333)],
                            keep_ratio=True),
                        dict(
                            type='RandomCrop',
                            crop_type='absolute_range',
                            crop_size=(384, 600),
                            allow_negative_crop=True),
                        dict(
                            type='RandomChoiceResize',
                            scales=[(480, 1333), (512, 1333), (544, 1333),
                                    (576, 1333), (608, 1333), (640, 1333),
                                    (672, 1333), (704, 1333), (736, 1333),
                                    (768, 1333), (800, 1333)],
                            keep_ratio=True)
                    ]]),
    dict(type='PackDetInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.9))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[9, 11],
        gamma=0.1)
]
train_cfg = dict(max_epochs=12, val_interval=1)
# 32 GPUs x 2 images; `--auto-scale-lr` rescales lr for another total batch.
auto_scale_lr = dict(base_batch_size=64)
