# Stage-1 schedule of direct detection pre-training (Li, Zhang, Zhang 2021,
# released configs): 12 epochs of the 4x repeated training set (48 passes
# over COCO), a linear warmup over 500 iterations from 1% of the lr, then
# the lr held constant: stage 2 does the annealing. Batch 64. The optimizer
# is the package's AdamW (ViT); the ResNet-50 config replaces it with the
# released SGD. At batch 64, 500 iterations are 0.27 COCO epoch, the ViT
# formula's 0.25-epoch warmup.
_base_ = '../../_base_/schedules/lsj_adamw_cosine.py'

train_cfg = dict(max_epochs=12, val_interval=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=500)
]
