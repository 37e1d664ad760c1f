# The toy detector (toy_vit_tiny_maskrcnn.py) with Cascade Mask R-CNN's heads
# (_base_/models/cascade_mask_rcnn_heads.py) at the toy's sizes: box heads
# of the toy's widths and classes, 32 sampled RoIs per image and stage.
_base_ = [
    './toy_vit_tiny_maskrcnn.py', './_base_/models/cascade_mask_rcnn_heads.py'
]

model = dict(
    roi_head=dict(
        _base_.cascade_mask_rcnn.roi_head,
        bbox_head=[
            dict(
                stage,
                in_channels=_base_.channels,
                conv_out_channels=_base_.channels,
                fc_out_channels=_base_.model.roi_head.bbox_head.
                fc_out_channels,
                num_classes=_base_.num_classes)
            for stage in _base_.cascade_mask_rcnn.roi_head.bbox_head
        ]),
    train_cfg=dict(rcnn=[
        dict(stage, sampler=dict(stage.sampler, num=32))
        for stage in _base_.cascade_mask_rcnn.train_cfg.rcnn
    ]))
