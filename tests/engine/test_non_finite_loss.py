"""The non-finite-loss policy on a real mmengine Runner with a tiny model."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from gloo_ranks import run_on_two_ranks
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from mmdet_vit_transfer.engine.hooks import (NonFiniteLossError,
                                             NonFiniteLossHook)
from mmdet_vit_transfer.engine.hooks.non_finite_loss import (
    SKIPS_KEY, can_skip_non_finite_updates, non_finite_loss_terms)
from mmdet_vit_transfer.engine.optimizers import SkipNonFiniteOptimWrapper


class TinyDetector(BaseModel):
    """Two loss terms; ``loss_cls`` is NaN for samples flagged poisoned."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs)).mean()
        poisoned = any(bool(flag) for flag in data_samples)
        loss_cls = (out - 1)**2 * (math.nan if poisoned else 1.0)
        return dict(loss_cls=loss_cls, loss_bbox=out.abs(),
                    acc=torch.tensor(math.nan))


class WeightRecorder(Hook):
    priority = 'LOW'

    def __init__(self):
        self.weights = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.weights.append(runner.model.linear.weight.detach().clone())


def train(tmp_path, poisoned_iters, wrapper='SkipNonFiniteOptimWrapper',
          max_skips=10, num_iters=5):
    torch.manual_seed(0)
    data = [
        dict(inputs=torch.tensor([1.0, float(i)]),
             data_samples=torch.tensor(i + 1 in poisoned_iters))
        for i in range(num_iters)
    ]
    recorder = WeightRecorder()
    runner = Runner(
        model=TinyDetector(),
        work_dir=str(tmp_path),
        experiment_name=f'non_finite_{tmp_path.name}',
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=1,
            num_workers=0,
            collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(type=wrapper, optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False)),
        custom_hooks=[dict(type='NonFiniteLossHook', max_skips=max_skips),
                      recorder],
        default_scope='mmdet')
    error = None
    try:
        runner.train()
    except NonFiniteLossError as caught:
        error = caught
    log = (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()
    return runner, recorder.weights, error, log


def test_terms_are_named_and_non_loss_values_ignored():
    assert non_finite_loss_terms(None) == {}
    terms = non_finite_loss_terms(
        dict(loss=torch.tensor(math.nan), loss_cls=torch.tensor(math.inf),
             loss_bbox=torch.tensor(0.5), acc=math.nan))
    assert terms == dict(loss_cls=math.inf)
    assert list(non_finite_loss_terms(dict(loss=math.nan))) == ['loss']


def test_bad_limit_is_refused():
    with pytest.raises(ValueError, match='-1'):
        NonFiniteLossHook(max_skips=-1)


def test_updates_with_non_finite_loss_are_skipped(tmp_path):
    runner, weights, error, log = train(tmp_path, poisoned_iters={2, 4},
                                        max_skips=2)
    assert error is None
    assert len(weights) == 5
    for i in range(1, 5):
        skipped = i + 1 in (2, 4)
        assert torch.equal(weights[i], weights[i - 1]) == skipped, i
    assert torch.isfinite(weights[-1]).all()
    assert 'non-finite loss at iteration 2 (epoch 1): loss_cls=nan; ' \
        'update skipped (1 of at most 2)' in log
    assert 'iteration 4 (epoch 1): loss_cls=nan' in log
    assert runner.message_hub.get_info(SKIPS_KEY) == 2


def test_training_stops_past_the_limit_without_saving(tmp_path):
    _, weights, error, _ = train(tmp_path, poisoned_iters={2, 4},
                                 max_skips=1)
    assert error is not None
    message = str(error)
    assert 'iteration 4 (epoch 1): loss_cls=nan' in message
    assert 'max_skips=1' in message
    assert torch.isfinite(weights[-1]).all()
    saved = sorted(p.name for p in tmp_path.glob('iter_*.pth'))
    assert saved == ['iter_1.pth', 'iter_2.pth', 'iter_3.pth']


def test_a_wrapper_that_cannot_skip_stops_at_once(tmp_path):
    _, _, error, log = train(tmp_path, poisoned_iters={3},
                             wrapper='OptimWrapper')
    assert 'OptimWrapper cannot skip an update' in log
    assert error is not None
    assert 'iteration 3 (epoch 1): loss_cls=nan' in str(error)
    assert 'already applied' in str(error)
    assert not (tmp_path / 'iter_3.pth').exists()


def test_an_accumulation_window_with_a_non_finite_loss_is_dropped():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    wrapper = SkipNonFiniteOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    initial = model.weight.detach().clone()
    x = torch.ones(1, 2)
    wrapper.update_params(model(x).sum())
    wrapper.update_params(model(x).sum() * math.nan)
    assert not wrapper.last_loss_finite
    assert torch.equal(model.weight, initial)
    assert model.weight.grad is None or not model.weight.grad.any()
    wrapper.update_params(model(x).sum())
    wrapper.update_params(model(x).sum())
    assert wrapper.last_loss_finite
    assert not torch.equal(model.weight, initial)


def _skip_when_any_rank_is_non_finite(rank):
    torch.manual_seed(0)
    model = DistributedDataParallel(nn.Linear(2, 1))
    wrapper = SkipNonFiniteOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1))
    weights, finite = [model.module.weight.detach().clone()], []
    for step in range(3):
        loss = model(torch.full((1, 2), float(rank + step))).sum()
        if step == 1 and rank == 1:
            loss = loss * math.inf
        wrapper.update_params(loss)
        finite.append(wrapper.last_loss_finite)
        weights.append(model.module.weight.detach().clone())
    return dict(finite=finite, weights=torch.stack(weights))


def test_all_ranks_skip_together():
    """Rank 1's loss is Inf at step 1: rank 0 skips too, and both stay in
    step through DDP's next gradient all-reduce."""
    ranks = run_on_two_ranks(_skip_when_any_rank_is_non_finite)
    for result in ranks:
        assert result['finite'] == [True, False, True]
        weights = result['weights']
        assert (weights[2] == weights[1]).all()
        assert not (weights[1] == weights[0]).all()
        assert not (weights[3] == weights[2]).all()
    assert (ranks[0]['weights'] == ranks[1]['weights']).all()


def test_the_plain_wrapper_would_have_poisoned_the_weights():
    model = nn.Linear(2, 1)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    wrapper.update_params(model(torch.ones(1, 2)).sum() * math.nan)
    assert torch.isnan(model.weight).all()


def test_only_wrappers_that_drop_the_update_count_as_skipping():
    optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    assert can_skip_non_finite_updates(SkipNonFiniteOptimWrapper(optimizer))
    assert not can_skip_non_finite_updates(OptimWrapper(optimizer))
    # What --amp builds on a CPU: bfloat16 autocast, no gradient scaler.
    from mmdet_vit_transfer.engine.optimizers import \
        CPUBFloat16AmpOptimWrapper
    amp = CPUBFloat16AmpOptimWrapper(optimizer=optimizer)
    assert amp.loss_scaler is None
    assert not can_skip_non_finite_updates(amp)
