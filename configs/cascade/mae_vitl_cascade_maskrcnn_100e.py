# Cascade Mask R-CNN, MAE init, ViT-L, 100 epochs: mae_vitl_maskrcnn_100e.py
# with the cascade heads of _base_/models/cascade_mask_rcnn_heads.py. ViTDet's
# MAE ViT-L Cascade reached 57.6 box / 50.0 mask AP with its own recipe (layer
# decay, LN heads; docs/paper_facts.md).
_base_ = [
    '../mae_vitl_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
