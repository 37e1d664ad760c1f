# MAE init, ViT-B, 100 epochs: 50.3 box / 44.9 mask AP in the paper, its best
# schedule (docs/paper_facts.md). 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mae_pretrain_vit_base.pth',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
