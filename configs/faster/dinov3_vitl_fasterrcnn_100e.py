# Faster R-CNN (box-only), DINOv3 init, ViT-L, 100 epochs:
# dinov3/dinov3_vitl_maskrcnn_100e.py without its mask branch
# (_base_/box_only.py), for annotations without masks.
_base_ = ['../dinov3/dinov3_vitl_maskrcnn_100e.py', '../_base_/box_only.py']
from mmdet_vit_transfer.datasets import box_only_dataloader  # noqa: E402

model = {{_base_.faster_rcnn}}
train_dataloader = box_only_dataloader(_base_.train_dataloader)
val_dataloader = box_only_dataloader(_base_.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
