# Cascade Mask R-CNN, Supervised (ImageNet-1k) init, ViT-L, 100 epochs:
# supervised_vitl_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../supervised_vitl_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
