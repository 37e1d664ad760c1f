# DINOv2 ViT-g init, 50 epochs: the 100-epoch experiment with a shorter
# schedule.
_base_ = './dinov2_vitg_maskrcnn_100e.py'

train_cfg = dict(max_epochs=50)
