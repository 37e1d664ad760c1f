"""A Faster R-CNN config made from a Mask R-CNN config and the box-only
pieces differs from it only in the mask branch, the mask loading and the
metric."""
from mmengine.config import Config


def without_masks(pipeline):
    """The pipeline with masks no longer loaded."""
    steps = []
    for step in map(dict, pipeline):
        if step['type'] in ('LoadAnnotations', 'LoadPolygonAnnotations'):
            step = dict(type='LoadAnnotations', with_bbox=True)
        steps.append(step)
    return steps


def test_the_box_only_config_is_its_mask_config_without_masks():
    masks = Config.fromfile('configs/mae_vitb_maskrcnn_100e.py')
    boxes = Config.fromfile('configs/mae_vitb_fasterrcnn_100e.py')
    assert boxes.model.type == 'FasterRCNN'
    assert boxes.model.data_preprocessor.batch_augments is None
    assert boxes.model.roi_head.mask_head is None
    assert boxes.model.roi_head.mask_roi_extractor is None
    for key in ('backbone', 'neck', 'rpn_head'):
        assert boxes.model[key] == masks.model[key], key
    assert boxes.model.roi_head.bbox_head == masks.model.roi_head.bbox_head
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'auto_scale_lr', 'default_hooks', 'custom_hooks'):
        assert boxes[key] == masks[key], key
    for split in ('train', 'val', 'test'):
        mask_set = masks[f'{split}_dataloader'].dataset
        box_set = boxes[f'{split}_dataloader'].dataset
        assert box_set.check_masks is False
        assert box_set.pipeline == without_masks(mask_set.pipeline)
        rest = ('check_masks', 'pipeline')
        assert {k: v for k, v in box_set.items() if k not in rest} == \
            {k: v for k, v in mask_set.items() if k not in rest}
    for split in ('val', 'test'):
        assert boxes[f'{split}_evaluator'].metric == 'bbox'
