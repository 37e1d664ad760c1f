# ViT-H variant of mask_rcnn_plain_vit_b.py: 1280 dims, 32 blocks, global
# attention in blocks 7, 15, 23, 31.
_base_ = './mask_rcnn_plain_vit_b.py'

embed_dims = 1280
model = dict(
    backbone=dict(arch='huge', drop_path_rate=0.5),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5,
            norm_cfg={{_base_.norm_cfg}}),
    ])
