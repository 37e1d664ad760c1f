# Random init (the scratch baseline), ViT-B, 100 epochs. The paper's best,
# 48.9 box / 43.6 mask AP, is at 200 epochs (random_vitb_maskrcnn_200e.py).
# Tuned at 100 epochs with more weight decay than the pre-trained inits;
# 200e / 400e inherit this file.
_base_ = './_base_/maskrcnn_vitb_lsj_1024.py'

model = dict(backbone=dict(drop_path_rate=0.1))
optim_wrapper = dict(optimizer=dict(lr=1.6e-4, weight_decay=0.2))
train_cfg = dict(max_epochs=100)
