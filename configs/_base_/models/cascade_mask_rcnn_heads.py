# Cascade Mask R-CNN's RoI heads as a delta of a Mask R-CNN config: a config
# inherits [its Mask R-CNN config, this file] and sets
# `model = _base_.cascade_mask_rcnn`. ViTDet's cascade (detectron2
# projects/ViTDet/configs/COCO/cascade_mask_rcnn_vitdet_b_100ep.py): three box
# stages, each a 4conv1fc head with class-agnostic regression, box-delta
# weights (10, 5), (20, 10), (30, 15) (the coder's stds are their inverses),
# trained on RoIs matched at IoU 0.5 / 0.6 / 0.7 without low-quality matches.
# As this package's Mask R-CNN heads, the box heads use sample-synced BN (LN
# in ViTDet) and an L1 box loss (detectron2's smooth L1 with beta 0). What
# the parent states stays: RPN, RoI extractors, the 4-conv BN mask head and
# the test settings. mmdet's CascadeRoIHead builds a mask head per stage
# (averaged at test) and weights the stages' losses 1 / 0.5 / 0.25, where
# detectron2 has one mask head and scales each stage's gradient by 1/3.
cascade_mask_rcnn = dict(
    roi_head=dict(
        type='CascadeRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_head=[
            dict(
                type='Shared4Conv1FCBBoxHead',
                in_channels=256,
                conv_out_channels=256,
                fc_out_channels=1024,
                roi_feat_size=7,
                num_classes=80,
                norm_cfg=dict(type='SampleSyncBN', requires_grad=True),
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0.0, 0.0, 0.0, 0.0],
                    target_stds=[1 / w_xy, 1 / w_xy, 1 / w_wh, 1 / w_wh]),
                reg_class_agnostic=True,
                loss_cls=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0))
            for w_xy, w_wh in ((10, 5), (20, 10), (30, 15))
        ]),
    train_cfg=dict(rcnn=[
        dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=iou,
                neg_iou_thr=iou,
                min_pos_iou=iou,
                match_low_quality=False,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=512,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False) for iou in (0.5, 0.6, 0.7)
    ]))
