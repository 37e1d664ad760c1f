# iTPN-L, CLIP-supervised pre-training, Mask R-CNN 1x with the released
# recipe (iTPN's det/configs/itpn/clip_itpn_large_1x_ld095_dp020.py): 55.2
# box / 48.2 mask AP as published. The iTPN-L pixel config with the CLIP
# encoder's layer scale (0.1) and the released detector's decomposed
# relative positions; no weight decay to the layer scales.
_base_ = './itpn_l_pixel_maskrcnn_1x.py'

model = dict(
    backbone=dict(
        layer_scale_init_value=0.1,
        rel_pos='decomposed',
        init_cfg=dict(
            checkpoint='checkpoints/itpn_clip_large.pth',
            rel_pos_init='zero')))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.gamma': dict(decay_mult=0.0)}))
