# iTPN-L, pixel pre-training, under this package's protocol (compare with
# mae_vitl_maskrcnn_100e.py): the iTPN-B LSJ config with iTPN-L's layer
# decay 0.95 and drop path 0.2.
_base_ = './itpn_b_pixel_maskrcnn_lsj_100e.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint='checkpoints/itpn_pixel_large.pth')))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.95))
