# ViT-g variant of mask_rcnn_plain_vit_b.py (DINOv2-g: 1536 dims, 40 blocks,
# 24 heads): global attention in blocks 9, 19, 29, 39.
_base_ = './mask_rcnn_plain_vit_b.py'

embed_dims = 1536
model = dict(
    backbone=dict(arch='dinov2-g14', drop_path_rate=0.4),
    neck=[
        dict(type='ViTSimpleAdapterNeck', in_channels=embed_dims),
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5,
            norm_cfg={{_base_.norm_cfg}}),
    ])
