# iTPN-B, CLIP-supervised pre-training, under this package's protocol
# (itpn_b_pixel_maskrcnn_lsj_100e.py). As the protocol does for BEiT, the
# checkpoint's position information transfers: its per-block relative
# tables are resized from the 14x14 pre-training grid to the 64x64 grid at
# 1024, besides its layer scale (0.1 at init).
_base_ = './itpn_b_pixel_maskrcnn_lsj_100e.py'

model = dict(
    backbone=dict(
        layer_scale_init_value=0.1,
        rel_pos='table',
        init_cfg=dict(
            checkpoint='checkpoints/itpn_clip_base.pth',
            rel_pos_init='pretrained')))
