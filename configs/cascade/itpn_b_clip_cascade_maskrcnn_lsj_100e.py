# Cascade Mask R-CNN, iTPN-B, CLIP-supervised pre-training, under this
# package's LSJ protocol: itpn_b_clip_maskrcnn_lsj_100e.py with the cascade
# heads of _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../itpn_b_clip_maskrcnn_lsj_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
