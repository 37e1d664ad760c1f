# Cascade Mask R-CNN, DeiT III init, ViT-L, 100 epochs:
# deit3/deit3_vitl_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../deit3/deit3_vitl_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
