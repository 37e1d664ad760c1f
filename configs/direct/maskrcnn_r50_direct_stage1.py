# Direct detection pre-training, stage 1, ResNet-50 Mask R-CNN: the
# published reference (Li, Zhang, Zhang 2021,
# mask_rcnn_r50_fpn_direct_pretrain_1x_coco). The whole detector from random
# init at 448 px, every stage trained and BN in training mode (8 images per
# GPU), 4conv1fc box head, SGD at lr 0.08 for batch 64 without weight decay
# on norms, constant lr after the warmup, 12 epochs of the 4x repeated set.
# Then: tools/handoff_checkpoint.py and maskrcnn_r50_direct_stage2.py.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/coco_instance_direct_448.py',
    './_base_/schedule_direct_stage1.py', '../_base_/default_runtime.py'
]

custom_imports = dict(
    imports=['mmdet_vit_transfer'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=None),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.08, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0))
