# BEiT init, ViT-L, 100 epochs: 53.3 box AP / 47.1 mask AP in the paper. BEiT
# has q/v-only attention biases and layer scale; its relative-position table
# goes into both shared tables and the absolute embedding starts random.
# 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        qkv_bias='qv',
        layer_scale_init_value=0.1,
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/beit_large_patch16_224_pt22k.pth',
            abs_pos_init='random',
            rel_pos_init='pretrained')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
