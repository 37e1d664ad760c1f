# iTPN-L, pixel pre-training, Mask R-CNN 1x with the published recipe: the
# iTPN-B one (itpn_b_pixel_maskrcnn_1x.py) with layer decay 0.95 and drop
# path 0.2. 55.6 box / 48.6 mask AP as published.
_base_ = './itpn_b_pixel_maskrcnn_1x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/itpn_pixel_large.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.95))
