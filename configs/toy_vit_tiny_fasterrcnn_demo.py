# The demo's toy detector (toy_vit_tiny_maskrcnn_demo.py) without its mask
# branch: Faster R-CNN for box-only toy sets (`python tools/make_toy_coco.py
# DIR --box-only`), trained on boxes and evaluated on boxes.
_base_ = ['./toy_vit_tiny_maskrcnn_demo.py', './_base_/box_only.py']
from mmdet_vit_transfer.datasets import box_only_dataloader  # noqa: E402

model = {{_base_.faster_rcnn}}
train_dataloader = box_only_dataloader(_base_.train_dataloader)
val_dataloader = box_only_dataloader(_base_.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
