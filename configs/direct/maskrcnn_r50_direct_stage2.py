# Direct detection pre-training, stage 2, ResNet-50 Mask R-CNN: the published
# fine-tuning (Li, Zhang, Zhang 2021,
# mask_rcnn_r50_fpn_direct_finetune_p1x_1x_coco): mmdet's 1x schedule at
# (1333, 800) from the whole stage-1 detector, its BN frozen as for an
# ImageNet backbone. Published: 40.0 box AP / 35.8 mask AP on COCO val2017
# (ImageNet init, same schedule: 38.2 / 34.7). load_from is the file
# `tools/handoff_checkpoint.py` writes; StrictLoadHook refuses to train
# unless it fills every key of the model.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(
    imports=['mmdet_vit_transfer'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        norm_cfg=dict(type='BN', requires_grad=False), init_cfg=None),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256)))

load_from = 'work_dirs/maskrcnn_r50_direct_stage1/handoff.pth'
custom_hooks = [dict(type='StrictLoadHook')]
