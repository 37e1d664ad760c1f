# Random init (the scratch baseline), ViT-L: 50.7 box AP at 400 epochs in
# the paper. 200e / 400e inherit this file.
_base_ = './_base_/maskrcnn_vitl_lsj_1024.py'

model = dict(backbone=dict(drop_path_rate=0.3))
optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.2))
train_cfg = dict(max_epochs=100)
