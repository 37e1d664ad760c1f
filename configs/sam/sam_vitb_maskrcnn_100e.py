# SAM image encoder ViT-B init (SA-1B, promptable segmentation (MAE-
# initialised)), 100 epochs. No Mask R-CNN result in this layout is published
# for it (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr
# 8e-5, wd 0.1, drop path 0.1, no layer decay; ours for this family). 25e / 50e
# inherit this file.
_base_ = '../_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='sam-b16',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/sam_vit_b_01ec64.pth')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
