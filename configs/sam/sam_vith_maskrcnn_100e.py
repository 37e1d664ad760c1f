# SAM image encoder ViT-H init (SA-1B, promptable segmentation (MAE-
# initialised)), 100 epochs. No Mask R-CNN result in this layout is published
# for it (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr
# 8e-5, wd 0.1, no layer decay; drop path 0.5 as ViTDet's ViT-H: ours). 25e /
# 50e inherit this file.
_base_ = '../_base_/maskrcnn_vith_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='sam-h16',
        drop_path_rate=0.5,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/sam_vit_h_4b8939.pth')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
