# iTPN-L, pixel pre-training, Mask R-CNN 1x: 55.6 box / 48.6 mask AP as
# published. The authors released no detection config for this backbone:
# this is their iTPN-B pixel 1x recipe (itpn_b_pixel_maskrcnn_1x.py) with the
# layer decay 0.95 and drop path 0.2 of their released iTPN-L CLIP 1x config.
_base_ = './itpn_b_pixel_maskrcnn_1x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/itpn_pixel_large.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.95))
