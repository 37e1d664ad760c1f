# EVA-02 ViT-L init (MIM on Merged-38M, 56 epochs: the `p14to16` file its
# detection starts from), 100 epochs in the paper's layout and schedule
# (Mask R-CNN, windows of 14, cosine decay) with the EVA-02 authors'
# optimiser: lr 6e-5 at batch 144, layer decay 0.8, drop path 0.4 (their
# Cascade config eva2_coco_cascade_mask_rcnn_vitdet_l_4attn_1024_lrd0p8.py:
# 59.2 box / 50.8 mask AP; docs/paper_facts.md). 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='eva02-l14',
        patch_size=16,
        drop_path_rate=0.4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/eva02_L_pt_m38m_p14to16.pt')))
optim_wrapper = dict(
    optimizer=dict(lr=6e-5, weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.8))
auto_scale_lr = dict(base_batch_size=144)
train_cfg = dict(max_epochs=100)
