# iTPN-B, CLIP-supervised pre-training, Mask R-CNN 1x: 53.2 box / 46.6 mask AP
# as published. The authors released this backbone's detection recipe at 3x
# only; this is their released iTPN-B pixel 1x recipe
# (itpn_b_pixel_maskrcnn_1x.py) with what their CLIP configs change: layer
# scale (0.1 at init), decomposed relative positions in the attention blocks
# (ViTDet's, from zero here) instead of the checkpoint's tables, and no
# weight decay to the layer scales.
_base_ = './itpn_b_pixel_maskrcnn_1x.py'

model = dict(
    backbone=dict(
        layer_scale_init_value=0.1,
        rel_pos='decomposed',
        init_cfg=dict(
            checkpoint='checkpoints/itpn_clip_base.pth',
            rel_pos_init='zero')))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
