# Random init (the scratch baseline), ViT-L, 100 epochs. 50.7 box / 44.9 mask
# AP in the paper, the best of its 100, 200 and 400-epoch schedules. 200e /
# 400e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(backbone=dict(drop_path_rate=0.3))
optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.2))
train_cfg = dict(max_epochs=100)
