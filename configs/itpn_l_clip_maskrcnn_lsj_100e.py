# iTPN-L, CLIP-supervised pre-training, under this package's protocol: the
# iTPN-L LSJ config with the CLIP encoder's layer scale (0.1) and its
# per-block relative tables resized to the 64x64 grid at 1024.
_base_ = './itpn_l_pixel_maskrcnn_lsj_100e.py'

model = dict(
    backbone=dict(
        layer_scale_init_value=0.1,
        rel_pos='table',
        init_cfg=dict(
            checkpoint='checkpoints/itpn_clip_large.pth',
            rel_pos_init='pretrained')))
