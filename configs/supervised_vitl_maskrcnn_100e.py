# Supervised IN-1k init, ViT-L, 100 epochs. 49.3 box / 43.9 mask AP in the
# paper, the best of its 25, 50 and 100-epoch schedules. DeiT publishes no
# ViT-L: put a supervised IN-1k ViT-L/16 (224) in
# timm names at this path (docs/checkpoints.md). 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/supervised_vit_large_patch16_224_in1k.pth',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
