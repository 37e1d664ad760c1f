# DINOv2 ViT-g/14 init (LVD-142M, self-supervised; SwiGLU MLPs), 100 epochs.
# No Mask R-CNN result in this layout is published for it
# (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr 8e-5,
# wd 0.1, no layer decay; drop path 0.4 for its 40 blocks: ours). ViTDet's
# layout at 1024: the 14x14 patch kernel resampled to 16x16 (FlexiViT's
# pseudo-inverse resize) and the 37x37 position grid (518 px) kept, so the
# grid is 64x64 with 14x14 windows. Layer scales get no weight decay, as
# DINOv2's own training. 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitg_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='dinov2-g14',
        patch_size=16,
        pretrain_img_size=592,
        drop_path_rate=0.4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/dinov2_vitg14_pretrain.pth',
            resample_patch_embed=True)))
optim_wrapper = dict(
    optimizer=dict(lr=8e-5, weight_decay=0.1),
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
train_cfg = dict(max_epochs=100)
