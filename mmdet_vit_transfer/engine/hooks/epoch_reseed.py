"""Reseed the random generators at every epoch, so a resumed run repeats the
uninterrupted one.

mmengine seeds python's, numpy's and torch's generators once, when the
runner starts, and does not store their state in checkpoints. An epoch's
augmentation (flip, scale jitter) and RoI sampling then draw from a state
that depends on everything the process ran before, so a run resumed from
``epoch_3.pth`` draws different numbers in epoch 4 than the run that was
interrupted. Seeding every epoch from ``(seed, epoch)`` makes each epoch's
draws a function of the seed and the epoch alone; with deterministic
algorithms, resuming from an epoch checkpoint then gives the same weights
as never stopping.

Dataloader workers are seeded by mmengine when they start; with
``persistent_workers=True`` they keep their generators across epochs, so
exact resumption needs ``num_workers=0`` or non-persistent workers.
"""
import numpy as np
from mmengine.hooks import Hook
from mmengine.runner.utils import set_random_seed
from mmdet.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded with ``seed``.

    Args:
        seed (int): The run's seed (``runner.seed``, rank offset included
            when ``randomness.diff_rank_seed`` is set).
        epoch (int): Epoch index, >= 0.

    Returns:
        int: A 32-bit seed, mixed from both numbers by numpy's
        ``SeedSequence`` so that neighbouring epochs get unrelated streams.
    """
    if seed < 0 or epoch < 0:
        raise ValueError(f'seed and epoch must be >= 0, got {seed}, {epoch}')
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochReseedHook(Hook):
    """Seed python, numpy and torch (CPU and CUDA) with
    :func:`epoch_seed` before every training epoch, before its dataloader
    is iterated."""

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        set_random_seed(epoch_seed(runner.seed, runner.epoch))
