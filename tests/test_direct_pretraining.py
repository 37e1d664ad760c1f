"""Direct detection pre-training (docs/direct_pretraining.md): the stage-1 and stage-2
configs carry the published recipe, stage 2 refuses to start from anything
but the whole detector, and on the toy set stage 1 -> hand-off -> stage 2
runs through the user's commands and starts stage 2 below random init."""
import json
import os
import runpy
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmdet.registry import MODELS
from subprocess_runs import LOAD_FACTOR, run

from mmdet_vit_transfer.engine import (StrictLoadHook, build_detector,
                                       handoff_checkpoint)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco

REPO = Path(__file__).parents[1]
DIRECT = REPO / 'configs' / 'direct'
TOY = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
TOY_STAGE1 = DIRECT / 'toy_vit_tiny_direct_stage1.py'
TOY_STAGE2 = DIRECT / 'toy_vit_tiny_direct_stage2.py'
MIM = Path(sys.executable).parent / 'mim'


def config(name):
    return Config.fromfile(DIRECT / f'{name}.py')


def transform(pipeline, kind):
    step, = (step for step in pipeline if step['type'] == kind)
    return step


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize('model', ['r50', 'vitb'])
def test_stage1_is_the_published_low_resolution_recipe(model):
    cfg = config(f'maskrcnn_{model}_direct_stage1')
    loader = cfg.train_dataloader
    assert loader.batch_size == 8  # x 8 GPUs: BN sees 8 images per batch
    assert (loader.dataset.type, loader.dataset.times) == ('RepeatDataset', 4)
    jitter = transform(loader.dataset.dataset.pipeline, 'LargeScaleJitter')
    assert jitter.scale == (448, 448)
    assert jitter.ratio_range == (0.8, 1.2)
    assert transform(cfg.test_pipeline, 'PadToSize').size == (448, 448)
    # One warmup phase and nothing after it: the lr stays constant.
    warmup, = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.by_epoch,
            warmup.end) == ('LinearLR', 0.01, False, 500)
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.model.backbone.get('init_cfg') is None
    assert cfg.auto_scale_lr.base_batch_size == 64


def test_r50_stage1_trains_every_layer_and_bn():
    cfg = config('maskrcnn_r50_direct_stage1')
    backbone = cfg.model.backbone
    assert backbone.frozen_stages == -1
    assert backbone.norm_eval is False
    assert backbone.norm_cfg.requires_grad is True
    assert backbone.zero_init_residual is False
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.08, momentum=0.9, weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.0)
    assert 'constructor' not in cfg.optim_wrapper


def test_r50_stage2_is_the_published_1x_finetuning():
    cfg = config('maskrcnn_r50_direct_stage2')
    assert cfg.model.backbone.init_cfg is None
    assert cfg.model.backbone.norm_cfg.requires_grad is False
    assert cfg.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert cfg.train_cfg.max_epochs == 12
    steps, = (s for s in cfg.param_scheduler if s.type == 'MultiStepLR')
    assert steps.milestones == [8, 11]
    assert cfg.load_from.endswith('maskrcnn_r50_direct_stage1/handoff.pth')
    assert dict(type='StrictLoadHook') in cfg.custom_hooks


@pytest.mark.parametrize('stage,size,window', [(1, 448, 7), (2, 1024, 14)])
def test_vitb_windows_tile_the_token_grid(stage, size, window):
    cfg = config(f'maskrcnn_vitb_direct_stage{stage}')
    backbone = build_detector(cfg).backbone
    grid = size // 16
    assert backbone.grid_hw == (grid, grid)
    assert backbone.window_size == window
    if stage == 1:  # stage 2 pads 64 to 70, as the paper does
        assert grid % window == 0
    assert backbone.rel_pos_window.table_hw == (window, window)
    assert backbone.rel_pos_global.table_hw == (grid, grid)
    # The absolute embedding is stored at the grid of its stage.
    assert tuple(backbone.pos_embed.shape) == (1, 1 + grid * grid, 768)
    assert cfg.model.data_preprocessor.batch_augments[0].size == (size, size)


def test_vitb_stage2_finetunes_with_the_pretrained_init_formula():
    cfg = config('maskrcnn_vitb_direct_stage2')
    assert cfg.model.backbone.get('init_cfg') is None
    assert cfg.optim_wrapper.optimizer.lr == 8e-5
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.1
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.train_cfg.max_epochs == 25
    assert [s.type for s in cfg.param_scheduler] == [
        'LinearLR', 'CosineAnnealingLR'
    ]
    assert cfg.load_from.endswith('maskrcnn_vitb_direct_stage1/handoff.pth')
    base = Config.fromfile(REPO / 'configs/_base_/maskrcnn_vitb_lsj_1024.py')
    assert cfg.custom_hooks == base.custom_hooks + [
        dict(type='StrictLoadHook')
    ]


def test_toy_stage1_is_the_toy_detector_at_half_resolution():
    stage1, toy = Config.fromfile(TOY_STAGE1), Config.fromfile(TOY)
    backbone = stage1.model.backbone
    assert (backbone.img_size, backbone.pretrain_img_size) == (128, 128)
    assert (128 // 16) % backbone.window_size == 0
    # The same detector but for its input size.
    for model in (stage1.model, toy.model):
        model.pop('data_preprocessor')
        for key in ('img_size', 'pretrain_img_size', 'window_size'):
            model.backbone.pop(key)
    assert stage1.model == toy.model
    assert transform(stage1.train_pipeline, 'LargeScaleJitter').ratio_range \
        == (0.8, 1.2)
    assert stage1.train_dataloader.batch_size == 8
    warmup, = stage1.param_scheduler
    assert warmup.type == 'LinearLR'


def test_toy_stage2_is_the_toy_config_started_from_stage1():
    stage2, toy = Config.fromfile(TOY_STAGE2), Config.fromfile(TOY)
    differ = {key for key in set(stage2) | set(toy)
              if stage2.get(key) != toy.get(key)}
    assert differ == {'load_from', 'custom_hooks'}
    assert stage2.custom_hooks == toy.custom_hooks + [
        dict(type='StrictLoadHook')
    ]


# ------------------------------------------------- stage 2 refuses to start


@pytest.fixture
def stage2_runner(tmp_path, monkeypatch):
    """A real runner of the toy stage-2 config (its data: a 16-image toy set
    that :func:`make_toy_coco` writes when training needs it)."""

    def build(**options):
        cfg = Config.fromfile(TOY_STAGE2)
        cfg.work_dir = str(tmp_path / 'work')
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].update(
                num_workers=0, persistent_workers=False)
        cfg.merge_from_dict(options)
        return Runner.from_cfg(cfg)

    monkeypatch.chdir(tmp_path)
    return build


@pytest.fixture(scope='module')
def toy_stage1_state():
    # Not the toy configs' seed 0: a runner built from them starts from other
    # weights than these.
    torch.manual_seed(1)
    init_default_scope('mmdet')
    return MODELS.build(Config.fromfile(TOY_STAGE1).model).state_dict()


def test_stage2_loads_the_handoff_file(tmp_path, stage2_runner,
                                       toy_stage1_state):
    torch.save({'state_dict': toy_stage1_state}, tmp_path / 'stage1.pth')
    handoff_checkpoint(tmp_path / 'stage1.pth', TOY_STAGE2,
                       tmp_path / 'handoff.pth')
    runner = stage2_runner()
    strict, = (h for h in runner.hooks if isinstance(h, StrictLoadHook))
    assert not strict.loaded
    runner.load_checkpoint(str(tmp_path / 'handoff.pth'))
    assert strict.loaded
    head = 'roi_head.bbox_head.fc_cls.weight'
    torch.testing.assert_close(runner.model.state_dict()[head],
                               toy_stage1_state[head])


def test_stage2_refuses_the_stage1_checkpoint_itself(tmp_path, stage2_runner,
                                                     toy_stage1_state):
    torch.save({'state_dict': toy_stage1_state}, tmp_path / 'stage1.pth')
    runner = stage2_runner()
    head = 'roi_head.bbox_head.fc_cls.weight'
    before = runner.model.state_dict()[head].clone()
    assert not torch.equal(before, toy_stage1_state[head])
    with pytest.raises(ValueError) as err:
        runner.load_checkpoint(str(tmp_path / 'stage1.pth'))
    message = str(err.value)
    assert 'backbone.pos_embed: (1, 65, 192) in the checkpoint' in message
    assert 'tools/handoff_checkpoint.py' in message
    # Refused before anything went into the model.
    assert torch.equal(runner.model.state_dict()[head], before)


def test_stage2_refuses_a_partial_checkpoint(tmp_path, stage2_runner,
                                             toy_stage1_state):
    backbone_only = {key: value for key, value in toy_stage1_state.items()
                     if key.startswith('backbone.')}
    torch.save({'state_dict': backbone_only}, tmp_path / 'backbone.pth')
    runner = stage2_runner()
    missing = len(toy_stage1_state) - len(backbone_only)
    with pytest.raises(ValueError,
                       match=f'{missing} model keys missing from it'):
        runner.load_checkpoint(str(tmp_path / 'backbone.pth'))


def test_stage2_refuses_to_train_from_random_init(stage2_runner):
    make_toy_coco(Path('data/toy_coco'), num_train=16, num_val=4)
    runner = stage2_runner(load_from=None)
    with pytest.raises(RuntimeError, match='no checkpoint was loaded'):
        runner.train()
    assert runner.iter == 0


# ------------------------------------------------------------- end to end


def mim_train(cwd, config, work_dir, *options):
    cmd = [
        str(MIM), 'train', 'mmdet',
        str(config), '--work-dir',
        str(work_dir), '--cfg-options', 'randomness.seed=0',
        'default_hooks.logger.interval=1', 'train_cfg.max_epochs=1',
        'train_cfg.val_begin=100', *(f'{split}_dataloader.{key}'
                                     for split in ('train', 'val', 'test')
                                     for key in ('num_workers=0',
                                                 'persistent_workers=False')),
        *options
    ]
    env = dict(os.environ, PATH=f'{MIM.parent}:{os.environ["PATH"]}')
    result = run(cmd, timeout=200 * LOAD_FACTOR, cwd=cwd, env=env)
    assert result.returncode == 0, result.output[-5000:]
    return result.output


def first_logged_loss(work_dir):
    scalars, = Path(work_dir).glob('*/vis_data/scalars.json')
    rows = [json.loads(line) for line in scalars.read_text().splitlines()]
    return next(row['loss'] for row in rows if 'loss' in row)


@pytest.mark.slow
def test_toy_stage1_handoff_stage2(tmp_path, capsys):
    # 64 images: 8 stage-1 iterations at batch 8, the first 2 warming up.
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=64, num_val=4)
    mim_train(tmp_path, TOY_STAGE1, tmp_path / 'stage1')
    stage1_ckpt = tmp_path / 'stage1' / 'epoch_1.pth'

    handoff = tmp_path / 'handoff.pth'
    tool = runpy.run_path(str(REPO / 'tools' / 'handoff_checkpoint.py'))
    tool['main']([str(stage1_ckpt), str(TOY_STAGE2), str(handoff)])
    printed = capsys.readouterr().out
    assert 'grid 8x8 -> 16x16, bicubic' in printed
    assert 'Missing in the checkpoint (left at init): none' in printed

    # Stage 2 and the same model from random init, same seed and data (the
    # first 16 images: 4 iterations at batch 4), no checkpoint written.
    options = ('train_dataloader.dataset.indices=16',
               'default_hooks.checkpoint.save_last=False')
    log = mim_train(tmp_path, TOY_STAGE2, tmp_path / 'stage2',
                    f'load_from={handoff}', *options)
    mim_train(tmp_path, TOY, tmp_path / 'random', *options)

    stage2_keys = build_detector(TOY_STAGE2).state_dict().keys()
    written = torch.load(handoff, map_location='cpu', weights_only=True)
    assert written['state_dict'].keys() == stage2_keys
    num_keys = len(stage2_keys)
    assert (f'StrictLoadHook: the checkpoint fills all {num_keys} tensors '
            f'of the model') in log
    assert 'missing keys' not in log and 'unexpected key' not in log
    from_stage1 = first_logged_loss(tmp_path / 'stage2')
    from_random = first_logged_loss(tmp_path / 'random')
    assert from_stage1 < from_random, (from_stage1, from_random)
