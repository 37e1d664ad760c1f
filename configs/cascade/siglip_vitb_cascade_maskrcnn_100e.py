# Cascade Mask R-CNN, SigLIP init, ViT-B, 100 epochs:
# siglip/siglip_vitb_maskrcnn_100e.py with the cascade heads of
# _base_/models/cascade_mask_rcnn_heads.py.
_base_ = [
    '../siglip/siglip_vitb_maskrcnn_100e.py',
    '../_base_/models/cascade_mask_rcnn_heads.py'
]

model = _base_.cascade_mask_rcnn
