# MoCo v3 init, ViT-B, 100 epochs. 47.9 box / 42.7 mask AP in the paper, the
# best of its 25, 50 and 100-epoch schedules. The file is the MoCo v3 training
# checkpoint (base encoder kept, momentum encoder and predictor dropped).
# 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/vit-b-300ep.pth.tar',
            abs_pos_init='pretrained',
            rel_pos_init='zero')))
optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
