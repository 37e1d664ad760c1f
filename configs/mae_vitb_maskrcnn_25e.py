# MAE init, ViT-B, 25 epochs (48.1 box / 43.2 mask AP in the paper): the
# 100-epoch experiment with a shorter schedule.
_base_ = './mae_vitb_maskrcnn_100e.py'

train_cfg = dict(max_epochs=25)
