# DINOv3 ViT-B/16 init (LVD-1689M, distilled from ViT-7B), 100 epochs,
# fine-tuned in the paper's layout with the paper's recipe for pre-trained
# inits (lr 8e-5, wd 0.1, drop path 0.1, no layer decay; ours for this
# family: DINOv3's own COCO result keeps a ViT-7B frozen under Plain-DETR,
# docs/paper_facts.md). Rotary positions: the global blocks normalise the
# coordinates over the whole grid, as DINOv3 at any resolution; each window
# over itself (docs/families.md). Layer scales get no weight decay, as in
# DINOv3's training. 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='dinov3-b16',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/dinov3_vitb16_pretrain_lvd1689m-73cec8be'
            '.pth')))
optim_wrapper = dict(
    optimizer=dict(lr=8e-5, weight_decay=0.1),
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
train_cfg = dict(max_epochs=100)
