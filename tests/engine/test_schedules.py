"""The `_base_` schedules: warmup and decay land where the paper puts them
for any dataset size and batch, and every experiment config builds its
optimizer with the paper's weight-decay exemptions."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope
from mmdet.registry import MODELS

from mmdet_vit_transfer.engine.optimizers import is_weight_decay_exempt

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
COSINE = CONFIGS / '_base_/schedules/lsj_adamw_cosine.py'
STEP = CONFIGS / '_base_/schedules/lsj_adamw_step.py'


def lr_curve(schedule_file, max_epochs, dataset_size, batch_size):
    """lr at every iteration of the schedule, built as the Runner builds it:
    `end` defaults to max_epochs, then epochs become iterations of the
    dataloader."""
    cfg = Config.fromfile(schedule_file)
    base_lr = cfg.optim_wrapper.optimizer.lr
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=base_lr)
    epoch_length = math.ceil(dataset_size / batch_size)
    schedulers = []
    for scheduler_cfg in cfg.param_scheduler:
        scheduler_cfg = dict(scheduler_cfg)
        scheduler_cfg.setdefault('end', max_epochs)
        assert scheduler_cfg.pop('convert_to_iter_based')
        assert scheduler_cfg.pop('by_epoch')
        cls = PARAM_SCHEDULERS.get(scheduler_cfg.pop('type'))
        schedulers.append(cls.build_iter_from_epoch(
            optimizer, epoch_length=epoch_length, **scheduler_cfg))
    lrs = []
    for _ in range(max_epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]['lr'] / base_lr)
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs, epoch_length


@pytest.mark.parametrize('dataset_size,batch_size', [(118287, 64),
                                                     (5000, 16)])
def test_cosine_warmup_and_end_points(dataset_size, batch_size):
    lrs, epoch_length = lr_curve(COSINE, 25, dataset_size, batch_size)
    total = 25 * epoch_length
    warmup = int(0.25 * epoch_length)  # iterations, as mmengine converts
    assert lrs[0] == pytest.approx(0.001)
    # linear warmup, reaching the full lr at the quarter epoch (mmengine's
    # LinearLR reaches it on its last iteration)
    assert lrs[warmup // 2] == pytest.approx(
        0.001 + 0.999 * (warmup // 2) / (warmup - 1), rel=1e-6)
    assert lrs[warmup - 2] < 1.0
    assert lrs[warmup - 1] == lrs[warmup] == pytest.approx(1.0)
    assert max(lrs) == pytest.approx(1.0)
    # half-period cosine from there to zero at the last iteration
    middle = (warmup + total) // 2
    assert lrs[middle] == pytest.approx(0.5, abs=2 / (total - warmup))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-4)
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))


@pytest.mark.parametrize('dataset_size,batch_size', [(118287, 64),
                                                     (5000, 16)])
def test_step_decay_at_the_released_fractions(dataset_size, batch_size):
    lrs, epoch_length = lr_curve(STEP, 100, dataset_size, batch_size)
    total = 100 * epoch_length
    steps = [i for i in range(1, total) if lrs[i] < lrs[i - 1] * 0.5]
    assert [s / total for s in steps] == pytest.approx([0.889, 0.963],
                                                       abs=1 / epoch_length)
    assert lrs[steps[0] - 1] == pytest.approx(1.0)
    assert lrs[steps[0]] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.01)
    if dataset_size == 118287:  # the paper's 100 epochs at batch 64
        assert total == 184900 and epoch_length == 1849


def test_auto_scale_lr_base_batch():
    cfg = Config.fromfile(COSINE)
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=64)


@pytest.mark.parametrize('config', [
    'mae_vitb_maskrcnn_100e.py', 'beit_vitl_maskrcnn_100e.py',
    'toy_vit_tiny_maskrcnn.py'
])
def test_experiment_configs_build_their_optimizer(config):
    cfg = Config.fromfile(CONFIGS / config)
    assert cfg.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 1.0
    if config != 'toy_vit_tiny_maskrcnn.py':
        # building ViT-B/L Mask R-CNN is slow; the toy shares every part
        return
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr, wd = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    groups = optim_wrapper.optimizer.param_groups
    # no layer decay: one group with weight decay, one without
    assert [(g['lr'], g['weight_decay']) for g in groups] == [(lr, wd),
                                                               (lr, 0.0)]
    modules = dict(model.named_modules())
    exempt = set(groups[1]['param_names'])
    for name, _ in model.named_parameters():
        owner = modules[name.rpartition('.')[0]]
        assert (name in exempt) == is_weight_decay_exempt(name, owner), name
    assert {'backbone.pos_embed',
            'backbone.rel_pos_window.relative_position_bias_table',
            'backbone.blocks.0.norm1.weight', 'backbone.blocks.0.attn.qkv.bias',
            'neck.1.fpn_convs.0.bn.weight'} <= exempt
    assert 'backbone.blocks.0.attn.qkv.weight' in groups[0]['param_names']
    assert sum(len(g['params']) for g in groups) == len(
        list(model.parameters()))
