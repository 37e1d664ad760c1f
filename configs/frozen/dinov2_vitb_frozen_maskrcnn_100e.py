# The frozen-backbone protocol, DINOv2 ViT-B init:
# dinov2/dinov2_vitb_maskrcnn_100e.py with every backbone parameter kept at
# its initial value (DINOv2's embeddings, with the patch kernel resampled to
# 16, and blocks; the relative-position tables at zero) and the backbone run
# in eval mode under torch.no_grad; the adapters, FPN and heads train.
# DINOv3's COCO evaluation keeps its backbone frozen this way
# (docs/paper_facts.md). No frozen Mask R-CNN recipe is published: lr, weight
# decay and the 100-epoch schedule are this package's choice, those of full
# fine-tuning, so that the two protocols differ only in what trains.
_base_ = '../dinov2/dinov2_vitb_maskrcnn_100e.py'

model = dict(backbone=dict(frozen_stages='all'))
