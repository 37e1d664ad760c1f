# Random init, ViT-L, 400 epochs: the 100-epoch experiment with
# a longer schedule.
_base_ = './random_vitl_maskrcnn_100e.py'

train_cfg = dict(max_epochs=400)
