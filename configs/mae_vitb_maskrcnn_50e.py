# MAE init, ViT-B, 50 epochs (50.1 box / 44.6 mask AP in the paper): the
# 100-epoch experiment with a shorter schedule.
_base_ = './mae_vitb_maskrcnn_100e.py'

train_cfg = dict(max_epochs=50)
