# BEiT init, ViT-B, 100 epochs: 49.8 box / 44.4 mask AP in the paper. BEiT
# has q/v-only attention biases and layer scale; its relative-position table
# goes into both shared tables and the absolute embedding starts random.
# 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        qkv_bias='qv',
        layer_scale_init_value=0.1,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/beit_base_patch16_224_pt22k.pth',
            abs_pos_init='random',
            rel_pos_init='pretrained')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
