# Cascade Mask R-CNN, BEiT v2 init, ViT-B, 100 epochs:
# beitv2/beitv2_vitb_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../beitv2/beitv2_vitb_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
