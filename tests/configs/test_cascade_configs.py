"""Cascade Mask R-CNN: one config per initialisation's 100-epoch config,
each its Mask R-CNN config plus the cascade heads and nothing else, the
heads being ViTDet's cascade; the toy cascade learns and evaluates."""
import ast
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from test_toy_training import mim_train

import mmdet_vit_transfer  # noqa: F401  (registers the backbones)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.utils import last_coco_metrics

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
CASCADE = CONFIGS / 'cascade'
HEADS = '../_base_/models/cascade_mask_rcnn_heads.py'
#: detectron2's ViTDet cascade: box-delta weights (x, y, w, h) and the IoU
#: of each stage's positives.
VITDET_STAGES = [((10, 10, 5, 5), 0.5), ((20, 20, 10, 10), 0.6),
                 ((30, 30, 15, 15), 0.7)]


def mask_rcnn_100e_configs():
    """The paper's grid, the families' and iTPN's 100-epoch configs."""
    return sorted([
        *CONFIGS.glob('*_maskrcnn_100e.py'),
        *(p for p in CONFIGS.glob('*/*_maskrcnn_100e.py')
          if p.parent.name not in ('cascade', 'frozen')),
        *CONFIGS.glob('itpn_*_maskrcnn_lsj_100e.py')
    ])


def cascade_name(parent: Path) -> str:
    return parent.name.replace('_maskrcnn_', '_cascade_maskrcnn_')


def test_every_100_epoch_config_has_its_cascade_and_nothing_else():
    parents = mask_rcnn_100e_configs()
    assert len(parents) == 34
    assert {p.name for p in CASCADE.glob('*.py')} == {
        cascade_name(p) for p in parents}


@pytest.mark.parametrize('parent', mask_rcnn_100e_configs(),
                         ids=lambda p: p.stem)
def test_a_cascade_config_states_only_the_heads(parent):
    """Read, not loaded: ``_base_ = [its Mask R-CNN config, the heads]`` and
    ``model = _base_.cascade_mask_rcnn``, nothing more."""
    source = (CASCADE / cascade_name(parent)).read_text()
    bases, model = ast.parse(source).body
    assert ast.literal_eval(bases.value) == [
        str(Path('..') / parent.relative_to(CONFIGS)), HEADS]
    assert [t.id for t in bases.targets] == ['_base_']
    assert ast.unparse(model) == 'model = _base_.cascade_mask_rcnn'


def test_the_cascade_is_vitdets_on_the_parents_model():
    parent = Config.fromfile(CONFIGS / 'mae_vitb_maskrcnn_100e.py')
    cfg = Config.fromfile(CASCADE / 'mae_vitb_cascade_maskrcnn_100e.py')
    # Everything but the RoI heads and their training is the parent's.
    for key in set(parent) - {'model'}:
        assert cfg[key] == parent[key], key
    for key in set(parent.model) - {'roi_head', 'train_cfg'}:
        assert cfg.model[key] == parent.model[key], key
    assert cfg.model.train_cfg.rpn == parent.model.train_cfg.rpn
    roi_head, box_head = cfg.model.roi_head, parent.model.roi_head.bbox_head
    for key in ('bbox_roi_extractor', 'mask_roi_extractor', 'mask_head'):
        assert roi_head[key] == parent.model.roi_head[key], key

    assert roi_head.type == 'CascadeRoIHead' and roi_head.num_stages == 3
    for head, train, (weights, iou) in zip(roi_head.bbox_head,
                                           cfg.model.train_cfg.rcnn,
                                           VITDET_STAGES):
        assert head.type == box_head.type == 'Shared4Conv1FCBBoxHead'
        assert head.norm_cfg == box_head.norm_cfg
        assert head.conv_out_channels == 256 and head.num_classes == 80
        assert head.reg_class_agnostic
        assert head.bbox_coder.target_stds == pytest.approx(
            [1 / w for w in weights])
        assert head.loss_bbox == box_head.loss_bbox  # L1, as Mask R-CNN's
        assigner = train.assigner
        assert (assigner.pos_iou_thr, assigner.neg_iou_thr,
                assigner.min_pos_iou) == (iou, iou, iou)
        assert not assigner.match_low_quality

    init_default_scope('mmdet')
    cfg.model.backbone.pop('init_cfg')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert [type(h).__name__ for h in model.roi_head.bbox_head] == \
        ['Shared4Conv1FCBBoxHead'] * 3
    assert len(model.roi_head.mask_head) == 3


#: Two epochs of four iterations (8 images, batch 2), then evaluation; the
#: warm-up ends after the first iteration (a quarter epoch rounds to one
#: iteration, which mmengine's LinearLR leaves at its start factor).
EPOCHS, ITERS = 2, 4
OPTIONS = ('train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
           'param_scheduler.0.end=0.5', 'param_scheduler.1.begin=0.5')


def train_toy(tmp_path, config):
    """The log, losses and final COCO metrics of ``config`` trained for
    ``EPOCHS`` epochs of ``ITERS`` iterations on the toy set."""
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=8, num_val=2)
    work_dir = tmp_path / 'work'
    log = mim_train(tmp_path, work_dir, EPOCHS, *OPTIONS, val_interval=EPOCHS,
                    config=config)
    losses = [float(v) for v in re.findall(
        r'Epoch\(train\).* loss: ([0-9.]+)', log)]
    assert len(losses) == EPOCHS * ITERS
    return log, losses, last_coco_metrics(work_dir)


@pytest.mark.slow
def test_toy_cascade_loss_falls_and_evaluation_runs(tmp_path):
    log, losses, metrics = train_toy(
        tmp_path, CONFIGS / 'toy_vit_tiny_cascade_maskrcnn.py')
    # Each stage's losses are logged (s0, s1, s2); the total falls (5.25 to
    # 3.81 over the first and last two iterations with seed 0).
    assert re.search(r's2\.loss_cls: [0-9.]+ .*s2\.loss_mask: [0-9.]+', log)
    assert sum(losses[-2:]) < 0.9 * sum(losses[:2]), losses
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0.0 <= metrics[key] <= 1.0
    # The optimizer's groups are logged once, as a table.
    assert log.count('Parameter groups of the optimizer:') == 1
