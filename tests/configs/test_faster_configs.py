"""Faster R-CNN: one config per initialisation's 100-epoch config, each its
Mask R-CNN config without the mask branch (``_base_/box_only.py``), differing
from it only in the mask branch, the mask loading and the metric; the toy
Faster R-CNN learns and evaluates boxes."""
import ast
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from test_cascade_configs import CONFIGS, mask_rcnn_100e_configs, train_toy

FASTER = CONFIGS / 'faster'
BOX_ONLY = '../_base_/box_only.py'
#: What every box-only config states after its bases.
BODY = '''from mmdet_vit_transfer.datasets import box_only_dataloader
model = {{_base_.faster_rcnn}}
train_dataloader = box_only_dataloader(_base_.train_dataloader)
val_dataloader = box_only_dataloader(_base_.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator'''


def faster_name(parent: Path) -> str:
    return parent.name.replace('_maskrcnn_', '_fasterrcnn_')


def without_masks(pipeline):
    """The pipeline with masks no longer loaded."""
    steps = []
    for step in map(dict, pipeline):
        if step['type'] in ('LoadAnnotations', 'LoadPolygonAnnotations'):
            step = dict(type='LoadAnnotations', with_bbox=True)
        steps.append(step)
    return steps


def test_every_100_epoch_config_has_its_faster_rcnn_and_nothing_else():
    parents = mask_rcnn_100e_configs()
    assert len(parents) == 34
    assert {p.name for p in FASTER.glob('*.py')} == {
        faster_name(p) for p in parents}


@pytest.mark.parametrize('parent', mask_rcnn_100e_configs(),
                         ids=lambda p: p.stem)
def test_a_faster_rcnn_config_states_only_the_box_only_changes(parent):
    """Read, not loaded: ``_base_ = [its Mask R-CNN config, box_only.py]``
    and the box-only lines, nothing more ({{ }} read as a set of a set)."""
    source = (FASTER / faster_name(parent)).read_text()
    bases, *body = ast.parse(source).body
    assert [t.id for t in bases.targets] == ['_base_']
    assert ast.literal_eval(bases.value) == [
        str(Path('..') / parent.relative_to(CONFIGS)), BOX_ONLY]
    assert '\n'.join(map(ast.unparse, body)) == BODY


@pytest.mark.parametrize('parent', [
    'mae_vitb_maskrcnn_100e.py', 'dinov2/dinov2_vitl_maskrcnn_100e.py',
    'itpn_b_pixel_maskrcnn_lsj_100e.py'
])
def test_the_box_only_config_is_its_mask_config_without_masks(parent):
    masks = Config.fromfile(CONFIGS / parent)
    boxes = Config.fromfile(FASTER / faster_name(CONFIGS / parent))
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


@pytest.mark.slow
def test_toy_faster_rcnn_loss_falls_and_evaluation_runs(tmp_path):
    """The demo's toy detector without its mask branch, as the cascade's
    toy test trains it."""
    log, losses, metrics = train_toy(
        tmp_path, CONFIGS / 'toy_vit_tiny_fasterrcnn_demo.py')
    assert re.search(r'loss_cls: [0-9.]+ .*loss_bbox: [0-9.]+', log)
    assert 'loss_mask' not in log
    assert sum(losses[-2:]) < 0.9 * sum(losses[:2]), losses
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert 'coco/segm_mAP' not in metrics
