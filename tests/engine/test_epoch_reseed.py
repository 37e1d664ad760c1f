import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmdet_vit_transfer.engine.hooks import EpochReseedHook
from mmdet_vit_transfer.engine.hooks.epoch_reseed import epoch_seed


def test_epoch_seeds_are_fixed_and_distinct():
    seeds = [epoch_seed(0, epoch) for epoch in range(100)]
    assert seeds == [epoch_seed(0, epoch) for epoch in range(100)]
    assert len(set(seeds)) == 100
    assert epoch_seed(1, 0) not in seeds
    assert all(0 <= s < 2**32 for s in seeds)
    with pytest.raises(ValueError, match='-1'):
        epoch_seed(0, -1)


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_an_epoch_draws_the_same_numbers_whatever_ran_before():
    hook = EpochReseedHook()
    hook.before_train_epoch(SimpleNamespace(seed=0, epoch=3))
    uninterrupted = draws()
    # A resumed process reaches epoch 3 with other generator states.
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    draws()
    hook.before_train_epoch(SimpleNamespace(seed=0, epoch=3))
    assert draws() == uninterrupted
    hook.before_train_epoch(SimpleNamespace(seed=0, epoch=4))
    assert draws() != uninterrupted
