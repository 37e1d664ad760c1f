# BEiT init, ViT-L: 53.3 box / 47.1 mask AP in the paper, the best of its 25,
# 50 and 100-epoch schedules. Departs from the paper: its BEiT was pre-trained
# on ImageNet-1k, this file is BEiT's public ImageNet-22k one
# (docs/paper_facts.md). BEiT has q/v-only attention biases and layer scale;
# its relative-position table goes into both shared tables and the absolute
# embedding starts random. Pixels are normalised as BEiT's pre-training did
# (mean = std = 127.5). 25e / 50e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3),
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
