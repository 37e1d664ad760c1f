# DINOv3 ViT-B init, 25 epochs: the 100-epoch experiment with a shorter
# schedule.
_base_ = './dinov3_vitb_maskrcnn_100e.py'

train_cfg = dict(max_epochs=25)
