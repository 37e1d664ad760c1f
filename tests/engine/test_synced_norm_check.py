import pytest
import torch
import torch.nn as nn
from gloo_ranks import run_on_two_ranks

from mmdet_vit_transfer.engine.hooks import SyncedNormCheckHook
from mmdet_vit_transfer.engine.hooks.synced_norm_check import (
    running_stats, synced_norm_layers)
from mmdet_vit_transfer.models.layers import SampleSyncBatchNorm2d


def model_with_norms():
    return nn.Sequential(
        nn.Conv2d(3, 4, 1), SampleSyncBatchNorm2d(4), nn.BatchNorm2d(4),
        nn.Sequential(SampleSyncBatchNorm2d(2, track_running_stats=False),
                      nn.SyncBatchNorm(3)))


def test_only_synced_layers_with_running_stats_are_compared():
    layers = synced_norm_layers(model_with_norms())
    assert [name for name, _ in layers] == ['1', '3.1']
    assert running_stats(layers).shape == (2 * 4 + 1 + 2 * 3 + 1, )


def test_one_process_has_nothing_to_compare():
    assert SyncedNormCheckHook().check(model_with_norms()) == 0.0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='interval'):
        SyncedNormCheckHook(interval=0)


def _train_and_check(rank, drift):
    torch.manual_seed(0)
    model = model_with_norms().train()
    # Different data and batch sizes per rank; the statistics are synced.
    torch.manual_seed(rank)
    model[:2](torch.randn(2 + rank, 3, 4, 4) * (1 + rank))
    if drift:  # as if rank 1 had normalised with its own statistics
        model[1].running_mean[2] += 0.5 * rank
    try:
        return SyncedNormCheckHook().check(model)
    except RuntimeError as error:
        return str(error)


def test_synced_statistics_agree_across_two_ranks():
    assert run_on_two_ranks(_train_and_check, False) == [0.0, 0.0]


def test_drifted_statistics_are_reported_with_the_layer():
    messages = run_on_two_ranks(_train_and_check, True)
    for message in messages:
        assert 'running statistics of 1 differ across processes by 0.5' \
            in message
