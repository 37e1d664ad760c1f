# The paper's setting for a ViT-g (DINOv2-g): Mask R-CNN with the plain ViT,
# COCO with large-scale jitter at 1024, AdamW with warmup + cosine. The
# experiment configs inherit this file and state their init, lr, wd, drop
# path, epochs.
_base_ = [
    './models/mask_rcnn_plain_vit_g.py',
    './datasets/coco_instance_lsj_1024.py',
    './schedules/lsj_adamw_cosine.py', './default_runtime.py'
]
