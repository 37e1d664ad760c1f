"""The stage-1 -> stage-2 hand-off of direct detection pre-training: the
whole detector carries over, grid-bound tensors are resized with the same
geometry as published checkpoints, anything else that differs is refused."""
import functools
import runpy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

from mmdet_vit_transfer.checkpoints import check_state_matches, model_state
from mmdet_vit_transfer.checkpoints.handoff import HandoffReport
from mmdet_vit_transfer.engine import build_detector, handoff_checkpoint
from mmdet_vit_transfer.engine.handoff import fit_detector_state
from mmdet_vit_transfer.models.layers.vit_geometry import (
    resize_abs_pos_embed, resize_decomposed_rel_pos, resize_relative_table)

REPO = Path(__file__).resolve().parents[2]
DIRECT = REPO / 'configs' / 'direct'
TOY_STAGE1 = DIRECT / 'toy_vit_tiny_direct_stage1.py'
TOY_STAGE2 = DIRECT / 'toy_vit_tiny_direct_stage2.py'
POSITION_KEYS = ('backbone.pos_embed',
                 'backbone.rel_pos_window.relative_position_bias_table',
                 'backbone.rel_pos_global.relative_position_bias_table')


def build_real(config):
    cfg = Config.fromfile(config) if not isinstance(config, Config) else config
    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


@pytest.fixture(scope='module')
def toy_stage1_state():
    torch.manual_seed(0)
    return build_real(TOY_STAGE1).state_dict()


@pytest.fixture(scope='module')
def toy_stage2_state():
    return build_real(TOY_STAGE2).state_dict()


def write_stage1_checkpoint(path, state):
    """The layout mmengine's CheckpointHook writes."""
    params = [torch.nn.Parameter(v.clone()) for v in state.values()
              if v.is_floating_point()][:2]
    optimizer = torch.optim.AdamW(params)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    torch.save(
        dict(
            meta=dict(epoch=2, iter=8, seed=0),
            state_dict=state,
            message_hub=dict(log_scalars={}, runtime_info={}),
            optimizer=optimizer.state_dict(),
            param_schedulers=[dict(last_step=8)]), path)


def test_toy_handoff_resizes_grid_tensors_and_keeps_the_rest(
        toy_stage1_state, toy_stage2_state):
    report = HandoffReport(format='mmengine')
    fitted = fit_detector_state(toy_stage1_state, toy_stage2_state, report)

    assert fitted.keys() == toy_stage2_state.keys()
    for key, value in fitted.items():
        assert value.shape == toy_stage2_state[key].shape, key
        if key not in POSITION_KEYS:
            assert value is toy_stage1_state[key], key
    # 128 px (8x8 grid, 4x4 windows) -> 256 px (16x16 grid, 8x8 windows).
    pos = toy_stage1_state['backbone.pos_embed']
    expected_grid = resize_abs_pos_embed(pos, (16, 16)).reshape(1, 256, -1)
    torch.testing.assert_close(fitted['backbone.pos_embed'][:, 1:],
                               expected_grid)
    torch.testing.assert_close(fitted['backbone.pos_embed'][:, :1],
                               pos[:, :1])
    for key, src, dst in ((POSITION_KEYS[1], 4, 8), (POSITION_KEYS[2], 8,
                                                     16)):
        torch.testing.assert_close(
            fitted[key],
            resize_relative_table(toy_stage1_state[key], (src, src),
                                  (dst, dst)))
    assert len(report.resized) == 3
    assert report.position['absolute'].endswith('8x8 grid resized to 16x16)')
    assert 'rel_pos_window 4x4 -> 8x8' in report.position['relative']
    assert 'rel_pos_global 8x8 -> 16x16' in report.position['relative']


def test_decomposed_relative_positions_are_resized():
    state = {'backbone.blocks.0.attn.rel_pos_h': torch.randn(15, 16)}
    target = {'backbone.blocks.0.attn.rel_pos_h': torch.empty(31, 16)}
    report = HandoffReport(format='mmengine')
    fitted = fit_detector_state(state, target, report)
    torch.testing.assert_close(
        fitted['backbone.blocks.0.attn.rel_pos_h'],
        resize_decomposed_rel_pos(state['backbone.blocks.0.attn.rel_pos_h'],
                                  31))
    assert report.resized == [
        'backbone.blocks.0.attn.rel_pos_h: (15, 16) -> (31, 16) (linear)'
    ]


def test_handoff_file_holds_every_stage2_key_and_no_training_state(
        tmp_path, toy_stage1_state):
    stage1 = tmp_path / 'epoch_2.pth'
    write_stage1_checkpoint(stage1, toy_stage1_state)
    out = tmp_path / 'nested' / 'handoff.pth'
    report = handoff_checkpoint(stage1, TOY_STAGE2, out)

    written = torch.load(out, map_location='cpu', weights_only=True)
    assert set(written) == {'meta', 'state_dict'}
    assert written['meta']['handoff'] == dict(
        stage1_checkpoint=str(stage1), stage2_config=str(TOY_STAGE2),
        stage1_epoch=2, stage1_iter=8)
    stage2 = build_real(TOY_STAGE2)
    result = stage2.load_state_dict(written['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert report.loaded == sorted(stage2.state_dict())
    assert sorted(report.dropped_keys) == [
        'message_hub', 'optimizer', 'param_schedulers'
    ]
    text = str(report)
    assert f'Loaded {len(report.loaded)} tensors into the detector.' in text
    assert 'backbone' not in text.splitlines()[1]
    assert '(epoch 2, iter 8)' in text.splitlines()[0]
    assert 'Missing in the checkpoint (left at init): none' in text


@pytest.fixture(scope='module')
def tool():
    """tools/handoff_checkpoint.py as a module."""
    return runpy.run_path(str(REPO / 'tools' / 'handoff_checkpoint.py'))


def test_tool_prints_the_report(tmp_path, toy_stage1_state, tool, capsys):
    stage1 = tmp_path / 'epoch_2.pth'
    write_stage1_checkpoint(stage1, toy_stage1_state)
    out = tmp_path / 'handoff.pth'
    report = tool['main']([str(stage1), str(TOY_STAGE2), str(out)])
    assert out.is_file()
    printed = capsys.readouterr().out
    assert printed.startswith(str(report))
    assert f"start stage 2 with load_from='{out}'" in printed


def test_another_detector_is_refused(tmp_path, toy_stage1_state):
    stage1 = tmp_path / 'epoch_2.pth'
    write_stage1_checkpoint(stage1, toy_stage1_state)
    stage2 = Config.fromfile(TOY_STAGE2)
    stage2.model.roi_head.bbox_head.num_classes = 5
    with pytest.raises(ValueError) as err:
        handoff_checkpoint(stage1, stage2, tmp_path / 'out.pth')
    message = str(err.value)
    assert 'roi_head.bbox_head.fc_cls.weight: (4, 256) in the stage-1 ' \
        'checkpoint, (6, 256) in the model' in message
    assert 'same architecture' in message
    assert not (tmp_path / 'out.pth').exists()


def test_check_names_missing_unexpected_and_reshaped_keys():
    expected = {'a.weight': torch.empty(2), 'b.weight': torch.empty(3)}
    with pytest.raises(ValueError) as err:
        check_state_matches(
            {'a.weight': torch.empty(4), 'c.bias': torch.empty(1)}, expected,
            'the file', hint='Do this.')
    message = str(err.value)
    assert message.startswith('the file does not match the model: ')
    assert '1 model keys missing from it (b.weight)' in message
    assert '1 keys with no place in the model (c.bias)' in message
    assert 'a.weight: (4,) in the file, (2,) in the model' in message
    assert message.endswith('. Do this.')
    check_state_matches({'a.weight': torch.zeros(2), 'b.weight':
                         torch.zeros(3)}, expected, 'the file')


def test_model_state_reads_what_mmengine_loads():
    weight = torch.ones(1)
    assert model_state({'state_dict': {'module.a': weight}, 'meta': {}}) == {
        'a': weight
    }
    assert model_state({'a': weight}) == {'a': weight}


def test_out_must_not_overwrite_stage1(tmp_path, toy_stage1_state):
    stage1 = tmp_path / 'epoch_2.pth'
    write_stage1_checkpoint(stage1, toy_stage1_state)
    with pytest.raises(ValueError, match='is the stage-1 checkpoint itself'):
        handoff_checkpoint(stage1, TOY_STAGE2, stage1)


@functools.lru_cache(maxsize=None)
def paper_state(name):
    """State dict (meta tensors: shapes only) of a configs/direct model."""
    return build_detector(DIRECT / f'{name}.py').state_dict()


@pytest.mark.parametrize('model', ['r50', 'vitb'])
def test_paper_stage2_is_the_stage1_detector(model):
    """Same keys and shapes, but for the grid-bound tensors of the ViT."""
    state1 = paper_state(f'maskrcnn_{model}_direct_stage1')
    state2 = paper_state(f'maskrcnn_{model}_direct_stage2')
    assert state1.keys() == state2.keys()
    reshaped = {
        key for key in state1 if state1[key].shape != state2[key].shape
    }
    assert reshaped == (set(POSITION_KEYS) if model == 'vitb' else set())


def test_vitb_handoff_from_448_to_1024():
    """Stage 1: 28x28 grid, 7x7 windows; stage 2: 64x64 grid, 14x14."""
    state = dict(paper_state('maskrcnn_vitb_direct_stage1'))
    for key in POSITION_KEYS:  # values for the resizing to read
        state[key] = torch.randn(state[key].shape)
    report = HandoffReport(format='mmengine')
    fitted = fit_detector_state(
        state, paper_state('maskrcnn_vitb_direct_stage2'), report)
    shapes = {key: tuple(fitted[key].shape) for key in POSITION_KEYS}
    assert shapes == {
        POSITION_KEYS[0]: (1, 1 + 64 * 64, 768),
        POSITION_KEYS[1]: ((2 * 14 - 1)**2 + 3, 12),
        POSITION_KEYS[2]: ((2 * 64 - 1)**2 + 3, 12),
    }
    assert tuple(state[POSITION_KEYS[0]].shape) == (1, 1 + 28 * 28, 768)
    assert report.position['absolute'] == (
        'pre-trained (28x28 grid resized to 64x64)')
    assert report.position['relative'] == (
        'stage-1 tables resized: rel_pos_window 7x7 -> 14x14, '
        'rel_pos_global 28x28 -> 64x64')


def test_tool_fails_with_the_reason(tmp_path, tool, monkeypatch):
    monkeypatch.delenv('MMDET_VIT_TRANSFER_DEBUG', raising=False)
    bad = tmp_path / 'not_a_checkpoint.pth'
    bad.write_text('hello')
    with pytest.raises(SystemExit) as stop:
        tool['main']([str(bad), str(TOY_STAGE2), str(tmp_path / 'out.pth')])
    assert str(stop.value.code).splitlines()[-1] == (
        f'error: checkpoint {bad}: not a PyTorch checkpoint (neither a '
        'torch.save zip archive nor the legacy format)')
