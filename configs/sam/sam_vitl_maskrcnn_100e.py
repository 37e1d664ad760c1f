# SAM image encoder ViT-L init (SA-1B, promptable segmentation (MAE-
# initialised)), 100 epochs. No Mask R-CNN result in this layout is published
# for it (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr
# 8e-5, wd 0.1, drop path 0.3, no layer decay; ours for this family). 25e / 50e
# inherit this file.
_base_ = '../_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='sam-l16',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/sam_vit_l_0b3195.pth')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
