# Random init, ViT-B, 400 epochs: the 100-epoch experiment with
# a longer schedule.
_base_ = './random_vitb_maskrcnn_100e.py'

train_cfg = dict(max_epochs=400)
