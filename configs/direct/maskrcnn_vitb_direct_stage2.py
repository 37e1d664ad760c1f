# Direct detection pre-training, stage 2, ViT-B Mask R-CNN: the paper's
# formula at 1024 (large-scale jitter, AdamW, warmup + cosine) from the whole
# stage-1 detector, with the hyper-parameters of the pre-trained inits
# (lr 8e-5, weight decay 0.1, drop path 0.1) and their shortest schedule, 25
# epochs. The absolute position embedding is stored at the 64x64 grid of
# this stage: the hand-off resizes stage 1's 28x28 embedding into it, its
# 7x7 window table to 14x14 and its 28x28 global table to 64x64. load_from
# is the file `tools/handoff_checkpoint.py` writes; StrictLoadHook refuses to
# train unless it fills every key of the model.
_base_ = '../_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(backbone=dict(pretrain_img_size=1024))
optim_wrapper = dict(optimizer=dict(lr=8e-5, weight_decay=0.1))
train_cfg = dict(max_epochs=25)

load_from = 'work_dirs/maskrcnn_vitb_direct_stage1/handoff.pth'
custom_hooks = _base_.custom_hooks + [dict(type='StrictLoadHook')]
