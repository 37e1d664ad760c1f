# MoCo v3 init, ViT-L, 100 epochs. 49.3 box / 44.0 mask AP in the paper, the
# best of its 25, 50 and 100-epoch schedules; drop path 0.3 as the paper's
# table. The MoCo v3 repo publishes no ViT-L: put one in its format at this
# path (docs/checkpoints.md). 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mocov3_vit_large.pth.tar',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
