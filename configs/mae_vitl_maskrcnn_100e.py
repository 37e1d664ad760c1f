# MAE init, ViT-L, 100 epochs. 53.3 box / 47.2 mask AP in the paper, the best
# of its 25, 50 and 100-epoch schedules. 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mae_pretrain_vit_large.pth',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
