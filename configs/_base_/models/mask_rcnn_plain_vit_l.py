# ViT-L variant of mask_rcnn_plain_vit_b.py: 1024 dims, 24 blocks, global
# attention in blocks 5, 11, 17, 23.
_base_ = './mask_rcnn_plain_vit_b.py'

embed_dims = 1024
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5,
            norm_cfg={{_base_.norm_cfg}}),
    ])
