# OpenAI CLIP ViT-B init (WIT-400M image-text pairs, contrastive), 100 epochs.
# No Mask R-CNN result in this layout is published for it
# (docs/paper_facts.md). The paper's recipe for pre-trained inits (lr 8e-5, wd
# 0.1, drop path 0.1, no layer decay; ours for this family). Pixels normalised
# as its pre-training did. 25e / 50e inherit this file.
_base_ = '../_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(
    data_preprocessor=dict(
        mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323]),
    backbone=dict(
        arch='clip-b16',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/ViT-B-16.pt')))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=100)
