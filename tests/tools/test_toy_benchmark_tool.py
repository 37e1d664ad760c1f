"""The benchmark in miniature, end to end at its small scale, through the
benchmark's launcher."""
import json

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from mmdet_vit_transfer.analysis import read_run
from mmdet_vit_transfer.checkpoints import read_checkpoint
from mmdet_vit_transfer.benchmark.plan import seeded_runs
from mmdet_vit_transfer.benchmark.state import StateFile
from mmdet_vit_transfer.benchmark.toy import (ARMS, SCALES, ToyCell,
                                              run_toy_benchmark)

SMALL = SCALES['small']


@pytest.mark.slow
def test_every_arm_is_pretrained_finetuned_and_summarised(toy_benchmark_dir):
    out = toy_benchmark_dir
    summary = out / 'summary'
    names = [f'{arm}_vittiny_maskrcnn_{e}e' for arm in ARMS
             for e in SMALL.schedules]
    # Each fine-tuning run finished with its own evaluation and logged it
    # to TensorBoard as well as to text.
    for name in names:
        run = read_run(out / 'work_dirs' / name)
        assert run.epochs in SMALL.schedules and 0 <= run.box_ap <= 100
        events, = (out / 'work_dirs' / name).glob('*/vis_data/events.out.*')
        tb = EventAccumulator(str(events.parent))
        tb.Reload()
        steps = [e.step for e in tb.Scalars('coco/bbox_mAP')]
        assert steps == [run.epochs]
        assert tb.Scalars('coco/bbox_mAP')[0].value == pytest.approx(
            run.box_ap / 100, abs=1e-6)

    table = (summary / 'benchmark.md').read_text()
    for arm in ARMS:
        assert f'| {arm} | ViT-Tiny |' in table
    rows = (summary / 'benchmark.csv').read_text().splitlines()
    assert len(rows) == 1 + len(names)
    for png in ('convergence.png', 'errors.png'):
        with Image.open(summary / png) as image:
            image.load()
    errors = json.loads((summary / 'errors.json').read_text())
    assert [e['name'] for e in errors] == [
        f'{arm}_vittiny_maskrcnn_{max(SMALL.schedules)}e' for arm in ARMS
    ]
    timings = json.loads((summary / 'timings.json').read_text())
    assert set(timings['seconds']) == set(names)
    assert 'Wall time' in (out / 'stdout.txt').read_text()
    # One launcher ran them: each run done at its first attempt; the
    # pre-trainings ran once, in the first run of their initialisation.
    state = StateFile(out / 'benchmark.json').load()
    assert {n: r.status for n, r in state.runs.items()} == dict.fromkeys(
        names, 'done')
    for arm in ('direct', 'mae'):
        first, second = (out / 'logs' / f'{arm}_vittiny_maskrcnn_{e}e.log'
                         for e in SMALL.schedules)
        assert 'stage 1/3' in first.read_text()
        assert 'finished before' in second.read_text()


@pytest.mark.slow
def test_pretrained_weights_reach_the_finetuning(toy_benchmark_dir):
    out = toy_benchmark_dir
    # MAE: mmpretrain's encoder, converted, is the backbone's init.
    mae = torch.load(out / 'checkpoints' / 'mae_vittiny_converted.pth',
                     weights_only=True)['state_dict']
    pretrained = read_checkpoint(out / 'work_dirs' / 'mae_pretrain' /
                                 f'epoch_{SMALL.mae_epochs}.pth')['state_dict']
    assert torch.equal(mae['blocks.3.mlp.fc1.weight'],
                       pretrained['backbone.layers.3.ffn.layers.0.0.weight'])
    log = next((out / 'work_dirs' / 'mae_vittiny_maskrcnn_1e').glob(
        '*/*.log')).read_text()
    assert 'Pre-trained weights for PlainViTPyramid' in log
    # Direct: the whole stage-1 detector, handed off, is stage 2's start.
    handoff = torch.load(out / 'checkpoints' / 'direct_vittiny_handoff.pth',
                         weights_only=True)['state_dict']
    stage1 = read_checkpoint(out / 'work_dirs' / 'direct_stage1' /
                             f'epoch_{SMALL.direct_epochs}.pth')['state_dict']
    for key in ('roi_head.bbox_head.fc_cls.weight', 'backbone.blocks.0.'
                'attn.qkv.weight'):
        assert torch.equal(handoff[key], stage1[key])
    log = next((out / 'work_dirs' / 'direct_vittiny_maskrcnn_1e').glob(
        '*/*.log')).read_text()
    assert 'direct_vittiny_handoff.pth' in log


def test_a_cell_is_its_pretraining_then_its_finetuning(tmp_path):
    run = ToyCell('mae', 2).run(tmp_path / 'data', SMALL)
    assert [stage.name for stage in run.stages] == [
        'mae_pretrain', 'mae_vittiny_converted', 'mae_vittiny_maskrcnn_2e']
    finetuning = run.stages[-1]
    assert finetuning.cfg_options['train_cfg.max_epochs'] == 2
    assert finetuning.cfg_options['train_dataloader.dataset.data_root'] == \
        f'{tmp_path / "data"}/'
    assert finetuning.inputs == {
        'model.backbone.init_cfg.checkpoint': 'mae_vittiny_converted'}


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        run_toy_benchmark(tmp_path, 'huge')
    with pytest.raises(ValueError, match=r"subset of .*got \['moco'\]"):
        run_toy_benchmark(tmp_path, 'small', ['moco'])


def test_seeds_rerun_the_finetuning_only(tmp_path, load_tool):
    runs = seeded_runs([ToyCell('direct', 2).run(tmp_path, SMALL)], [0, 1])
    assert [[stage.name for stage in run.stages] for run in runs] == [
        ['direct_stage1', 'direct_vittiny_handoff',
         f'direct_vittiny_maskrcnn_2e_seed{seed}'] for seed in (0, 1)]
    assert [run.stages[-1].cfg_options['randomness.seed']
            for run in runs] == [0, 1]
    parser = load_tool('tools/toy_benchmark.py').build_parser()
    assert parser.parse_args(['--seeds', '0,1,2']).seeds == [0, 1, 2]
    assert parser.parse_args([]).seeds is None
