# Cascade Mask R-CNN, DINOv2 with registers init, ViT-B, 100 epochs:
# dinov2_reg/dinov2_reg4_vitb_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../dinov2_reg/dinov2_reg4_vitb_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
