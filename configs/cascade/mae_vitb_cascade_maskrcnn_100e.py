# Cascade Mask R-CNN, MAE init, ViT-B, 100 epochs: mae_vitb_maskrcnn_100e.py
# with the cascade heads of _base_/models/cascade_mask_rcnn_heads.py. ViTDet's
# MAE ViT-B Cascade reached 54.0 box / 46.7 mask AP with its own recipe (layer
# decay, LN heads; docs/paper_facts.md).
_base_ = [
    '../mae_vitb_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
