# The demo's toy detector (toy_vit_tiny_maskrcnn_demo.py) without its mask
# branch: Faster R-CNN for box-only toy sets (`python tools/make_toy_coco.py
# DIR --box-only`), trained on boxes and evaluated on boxes.
_base_ = ['./toy_vit_tiny_maskrcnn_demo.py', './_base_/box_only.py']
from mmdet_vit_transfer.datasets import without_masks  # noqa: E402

model = {{_base_.faster_rcnn}}
train_dataloader = dict(
    dataset=dict(
        check_masks=False,
        pipeline=without_masks(_base_.train_dataloader.dataset.pipeline)))
val_dataloader = dict(
    dataset=dict(
        check_masks=False,
        pipeline=without_masks(_base_.val_dataloader.dataset.pipeline)))
test_dataloader = val_dataloader
val_evaluator = {{_base_.box_only_evaluator}}
test_evaluator = val_evaluator
