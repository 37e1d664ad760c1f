# MAE pre-training of the toy ViT (8 blocks of width 192, 3 heads, as in
# configs/toy_vit_tiny_maskrcnn.py) on the toy training images, with
# mmpretrain's own MAE: MAEViT encoder with 75% of the patches masked,
# MAEPretrainDecoder, MAEPretrainHead with the normalised-pixel L2 loss.
# 256 px crops, the detector's input size, so the 16x16 sin-cos position
# embedding transfers unresized. A smaller decoder (2 blocks of width 128)
# and a higher lr than ImageNet's suit the short toy schedule. Convert the
# result with `python tools/convert_checkpoint.py CKPT OUT` (format
# mmpretrain) and fine-tune with the detector's
# backbone.init_cfg=dict(type='Pretrained', checkpoint=OUT).
_base_ = [
    'mmpretrain::_base_/models/mae_vit-base-p16.py',
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]

image_size = 256
embed_dims = 192

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=embed_dims,
            num_layers=8,
            num_heads=3,
            feedforward_channels=4 * embed_dims),
        img_size=image_size),
    neck=dict(
        num_patches=(image_size // 16)**2,
        embed_dim=embed_dims,
        decoder_embed_dim=128,
        decoder_depth=2,
        decoder_num_heads=4))

data_root = 'data/toy_coco/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=image_size,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    # Restated: inherited through `mmpretrain::`, it would carry a _scope_
    # key that mmengine passes on to the function.
    collate_fn=dict(_delete_=True, type='default_collate'),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train/',
        with_label=False,
        pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
# One epoch of linear warmup, then half-period cosine to the last epoch
# (whatever train_cfg.max_epochs a run sets, at least 2).
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        eta_min=0.0,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
visualizer = dict(vis_backends=vis_backends)
randomness = dict(seed=0)
# As the detection configs: CPU training slows down as values turn denormal.
custom_imports = dict(
    imports=['mmdet_vit_transfer'], allow_failed_imports=False)
custom_hooks = [dict(type='mmdet.FlushDenormalHook')]
auto_scale_lr = dict(base_batch_size=16)
