# Mask R-CNN with a plain ViT-B backbone (paper section 2): windowed
# attention (14x14) with four global blocks, shared relative-position tables,
# a position embedding stored at 224 px (the backbone's defaults, which a
# family's `arch` preset may change), the four resolution adapters, FPN with
# BN, RPN with 2 convs, 4conv1fc box head and 4-conv mask head with BN.
# SampleSyncBN is plain BN in one process and syncs statistics weighted by
# sample count across processes.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

custom_imports = dict(
    imports=['mmdet_vit_transfer'], allow_failed_imports=False)

embed_dims = 768
norm_cfg = dict(type='SampleSyncBN', requires_grad=True)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)
    ]),
    backbone=dict(
        _delete_=True,
        type='PlainViTPyramid',
        arch='base',
        img_size=1024,
        drop_path_rate=0.1),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5,
            norm_cfg=norm_cfg),
    ],
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        # mmdet's SingleRoIExtractor, with all levels pooled at once on CPUs.
        bbox_roi_extractor=dict(type='FusedRoIExtractor'),
        mask_roi_extractor=dict(type='FusedRoIExtractor'),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
