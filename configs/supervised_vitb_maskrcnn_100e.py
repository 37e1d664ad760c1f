# Supervised IN-1k init (DeiT ViT-B), 100 epochs. 47.9 box / 42.9 mask AP in
# the paper, the best of its 25, 50 and 100-epoch schedules. 25e / 50e inherit
# this file. Checkpoint: docs/checkpoints.md.
_base_ = './_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/deit_base_patch16_224-b5f2ef4d.pth',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
