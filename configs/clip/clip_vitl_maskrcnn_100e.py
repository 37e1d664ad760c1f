# OpenAI CLIP ViT-L init (WIT-400M image-text pairs, contrastive), 100 epochs.
# No Mask R-CNN result in this layout is published for it
# (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr 8e-5, wd
# 0.1, drop path 0.3, no layer decay; ours for this family). ViTDet's layout at
# 1024: the 14x14 patch kernel resampled to 16x16 (FlexiViT's pseudo-inverse
# resize) and the 16x16 position grid (224 px) kept, so the grid is 64x64 with
# 14x14 windows. Pixels normalised as its pre-training did. 25e / 50e inherit
# this file.
_base_ = '../_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    data_preprocessor=dict(
        mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323]),
    backbone=dict(
        arch='clip-l14',
        patch_size=16,
        pretrain_img_size=256,
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/ViT-L-14.pt',
            resample_patch_embed=True)))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
