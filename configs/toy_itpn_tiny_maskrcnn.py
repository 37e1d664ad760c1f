# The toy detector with a tiny iTPN instead of the tiny ViT: a HiViT of width 128
# (one MLP block at stride 4, one at stride 8, four attention blocks at
# stride 16) whose pyramid gives the heads five 64-channel maps, so there is
# no neck. Random init, the toy set, 256 px: everything else is the ViT toy.
_base_ = './toy_vit_tiny_maskrcnn.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ITPNHiViT',
        arch=dict(embed_dims=128, depths=(1, 1, 4), num_heads=4),
        img_size=256,
        pretrain_img_size=256,
        fpn_dim={{_base_.channels}}),
    neck=None)
