# Faster R-CNN (box-only), DINOv2 with registers init, ViT-L, 100 epochs:
# dinov2_reg/dinov2_reg4_vitl_maskrcnn_100e.py without its mask branch
# (_base_/box_only.py), for annotations without masks.
_base_ = [
    '../dinov2_reg/dinov2_reg4_vitl_maskrcnn_100e.py',
    '../_base_/box_only.py'
]
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
