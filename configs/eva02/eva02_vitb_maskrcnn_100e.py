# EVA-02 ViT-B init (MIM on ImageNet-21k, 150 epochs: the `p14to16` file its
# detection starts from, patch 16 and a 14x14 position grid), 100 epochs in
# the paper's layout and schedule (Mask R-CNN, windows of 14, cosine decay)
# with the EVA-02 authors' optimiser: lr 5e-5 at batch 128, layer decay 0.7,
# drop path 0.1 (their Cascade config eva2_coco_cascade_mask_rcnn_vitdet_b_
# 4attn_1024_lrd0p7.py: 55.5 box / 47.1 mask AP; docs/paper_facts.md).
# Rotary positions referred to the 16x16 pre-training grid, as their
# detection code. 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='eva02-b14',
        patch_size=16,
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/eva02_B_pt_in21k_p14to16.pt')))
optim_wrapper = dict(
    optimizer=dict(lr=5e-5, weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7))
auto_scale_lr = dict(base_batch_size=128)
train_cfg = dict(max_epochs=100)
