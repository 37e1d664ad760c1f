# BEiT v2 ViT-L init (ImageNet-1k, masked image modelling with a CLIP-distilled
# tokenizer, 1600 epochs), 100 epochs. No Mask R-CNN result in this layout is
# published for it (docs/paper_facts.md). The paper's recipe for pre-trained
# inits (lr 8e-5, wd 0.1, drop path 0.3, no layer decay; ours for this family).
# Layer scales get no weight decay, as BEiT v2's fine-tuning (no decay on 1-d
# parameters). 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(
    backbone=dict(
        arch='beitv2-l16',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/beitv2_large_patch16_224_pt1k.pth')))
optim_wrapper = dict(
    optimizer=dict(lr=8e-5, weight_decay=0.1),
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
train_cfg = dict(max_epochs=100)
