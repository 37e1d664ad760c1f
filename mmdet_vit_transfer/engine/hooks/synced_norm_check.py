"""Check that synchronised norm layers agree across processes.

Synchronised BatchNorm (:class:`SampleSyncBatchNorm2d` in the FPN and the
box and mask heads, or torch's ``SyncBatchNorm``) normalises with statistics
gathered from all processes, so every process updates its running mean and
variance identically. mmengine does not broadcast buffers, so if a layer
silently stopped syncing (a plain ``BN`` in a config, a process that skipped
the collective) the processes would drift apart and the saved rank-0 model
would not be the one the others trained. This hook gathers the running
statistics of every synchronised layer and compares them.
"""
from typing import List, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...models.layers import SampleSyncBatchNorm2d

SYNCED_NORMS = (SampleSyncBatchNorm2d, nn.SyncBatchNorm)


def synced_norm_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, layer)`` of every synchronised norm layer that tracks
    running statistics."""
    if is_model_wrapper(model):
        model = model.module
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, SYNCED_NORMS)
            and module.track_running_stats]


def running_stats(layers: List[Tuple[str, nn.Module]]) -> torch.Tensor:
    """All layers' running mean, running variance and batch count in one
    float64 vector (CPU)."""
    parts = []
    for _, layer in layers:
        parts += [layer.running_mean.double().flatten(),
                  layer.running_var.double().flatten(),
                  layer.num_batches_tracked.double().reshape(1)]
    if not parts:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat(parts).cpu()


@HOOKS.register_module()
class SyncedNormCheckHook(Hook):
    """Compare the running statistics of synchronised norm layers across
    processes every ``interval`` epochs and at the end of training.

    Logs the number of layers compared and the largest difference; raises
    :class:`RuntimeError` naming the layer if it exceeds ``atol``.

    Args:
        interval (int): Check every this many epochs. Defaults to 1.
        atol (float): Largest absolute difference allowed. Defaults to 1e-5.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 1, atol: float = 1e-5):
        if interval < 1 or atol < 0:
            raise ValueError('interval must be >= 1 and atol >= 0, got '
                             f'{interval}, {atol}')
        self.interval = interval
        self.atol = atol

    def after_train_epoch(self, runner) -> None:
        # after_train checks the last epoch.
        if self.every_n_epochs(runner, self.interval) and \
                not self.is_last_train_epoch(runner):
            self.check(runner.model)

    def after_train(self, runner) -> None:
        self.check(runner.model)

    def check(self, model: nn.Module) -> float:
        """Compare the statistics of ``model`` with those of every process.

        Args:
            model (nn.Module): This process's model (wrapped or not).

        Returns:
            float: The largest absolute difference to rank 0 (0 in one
            process).
        """
        layers = synced_norm_layers(model)
        world_size = get_world_size()
        if world_size == 1 or not layers:
            return 0.0
        gathered = all_gather(running_stats(layers))
        diff = torch.stack([g - gathered[0] for g in gathered]).abs().amax(0)
        largest = float(diff.max())
        if largest > self.atol:
            sizes = [2 * layer.num_features + 1 for _, layer in layers]
            worst = int(torch.stack([d.max() for d in diff.split(sizes)
                                     ]).argmax())
            raise RuntimeError(
                f'running statistics of {layers[worst][0]} differ across '
                f'processes by {largest:.3g} (atol {self.atol}): the layer '
                'is not synchronised')
        print_log(
            f'running statistics of {len(layers)} synchronised norm layers '
            f'agree across {world_size} processes (largest difference '
            f'{largest:.3g})', logger='current')
        return largest
