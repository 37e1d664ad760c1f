# Cascade Mask R-CNN, SAM image encoder init, ViT-H, 100 epochs:
# sam/sam_vith_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../sam/sam_vith_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
