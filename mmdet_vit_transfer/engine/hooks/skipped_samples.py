"""Count the training images that could not be loaded and were replaced.

:class:`~mmdet_vit_transfer.datasets.ValidatedCocoDataset` replaces an
unloadable image with another sample inside a dataloader worker, where a
counter would be lost; the replacement carries the records in its
``replaced_samples`` metainfo. This hook adds them up per failure kind, sums
them over processes at the end of every epoch, logs the epoch's and the
run's totals, and keeps the totals in the message hub (so in checkpoints).
"""
import logging

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmdet.registry import HOOKS

from ...datasets.transforms.checked_loading import LOAD_FAILURES
from ...datasets.validated_coco import REPLACED_SAMPLES_KEY

#: Message-hub key of the run's totals, a dict from failure kind to count.
TOTALS_KEY = 'replaced_samples'


@HOOKS.register_module()
class SkippedSampleHook(Hook):
    """Count and log the training images replaced because they could not be
    loaded (see the module docstring)."""

    def __init__(self):
        self._kinds = list(LOAD_FAILURES)
        self._epoch_counts = torch.zeros(len(self._kinds), dtype=torch.int64)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        samples = data_batch.get('data_samples', []) \
            if isinstance(data_batch, dict) else []
        for sample in samples or []:
            for record in sample.metainfo.get(REPLACED_SAMPLES_KEY, []):
                self._epoch_counts[self._kinds.index(record['kind'])] += 1

    def after_train_epoch(self, runner) -> None:
        counts = self._epoch_counts.clone()
        self._epoch_counts.zero_()
        if is_distributed():
            all_reduce(counts)
        totals = dict(runner.message_hub.get_info(TOTALS_KEY, {}))
        for kind, count in zip(self._kinds, counts.tolist()):
            totals[kind] = totals.get(kind, 0) + count
        runner.message_hub.update_info(TOTALS_KEY, totals)
        if counts.sum() == 0:
            return
        per_kind = ', '.join(f'{kind}: {count}'
                             for kind, count in zip(self._kinds,
                                                    counts.tolist()) if count)
        print_log(
            f'epoch {runner.epoch + 1}: {int(counts.sum())} training images '
            f'could not be loaded and were replaced ({per_kind}); '
            f'{sum(totals.values())} since the start of the run',
            logger='current', level=logging.WARNING)
