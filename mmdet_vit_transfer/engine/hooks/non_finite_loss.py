"""The non-finite-loss policy: name it, skip the update up to a limit, then
stop with a clear error.

Every iteration whose loss is NaN or Inf in any process is logged with its
iteration, epoch and the loss terms that are not finite (with the process
that saw them). With :class:`SkipNonFiniteOptimWrapper` (or an
``AmpOptimWrapper`` with a gradient scaler, which drops non-finite updates)
such an update is skipped, up to ``max_skips`` over the whole run; the next
one stops training with :class:`NonFiniteLossError`. With any other
optimizer wrapper the weights are already damaged, so the first one stops
training. The hook runs before the checkpoint hook, so a damaged model is
never saved. The count is kept in the message hub, so it survives
``--resume``.
"""
import logging
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_gather_object, all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper
from mmdet.registry import HOOKS

from ...utils.errors import UserInputError
from ..optimizers.skip_non_finite import SkipNonFiniteOptimWrapper

#: Message-hub key of the number of iterations with a non-finite loss.
SKIPS_KEY = 'non_finite_loss_skips'


class NonFiniteLossError(UserInputError, RuntimeError):
    """Training stopped because of non-finite losses (the run diverges, or
    the data is broken); the message says where and what to change."""


def non_finite_loss_terms(log_vars: Optional[Dict]) -> Dict[str, float]:
    """The loss terms of one iteration that are NaN or Inf.

    Args:
        log_vars (dict | None): What ``train_step`` returned: loss names
            (mmengine counts a key as a loss if it contains ``'loss'``) to
            tensors or numbers.

    Returns:
        dict[str, float]: Offending terms and their values; the total
        ``'loss'`` only if no single term explains it.
    """
    bad = {}
    for name, value in (log_vars or {}).items():
        if 'loss' not in name:
            continue
        value = float(value.detach().float().mean()) \
            if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(value):
            bad[name] = value
    if len(bad) > 1:
        bad.pop('loss', None)
    return bad


def can_skip_non_finite_updates(wrapper) -> bool:
    """Whether ``wrapper`` leaves the weights alone when the loss is NaN or
    Inf: :class:`SkipNonFiniteOptimWrapper`, or an ``AmpOptimWrapper`` with
    a gradient scaler (which drops steps with non-finite gradients; the
    bfloat16 CPU variant has none)."""
    if isinstance(wrapper, SkipNonFiniteOptimWrapper):
        return True
    return isinstance(wrapper, AmpOptimWrapper) and \
        getattr(wrapper, 'loss_scaler', None) is not None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Apply the non-finite-loss policy (see the module docstring).

    Args:
        max_skips (int): Iterations with a non-finite loss whose update may
            be skipped over the whole run; one more stops training.
            Defaults to 10.
    """

    # Before CheckpointHook (VERY_LOW) and LoggerHook (BELOW_NORMAL).
    priority = 'ABOVE_NORMAL'

    def __init__(self, max_skips: int = 10):
        if not isinstance(max_skips, int) or max_skips < 0:
            raise ValueError(
                f'max_skips must be an int >= 0, got {max_skips!r}')
        self.max_skips = max_skips
        self._can_skip = False

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        self._can_skip = can_skip_non_finite_updates(wrapper)
        if not self._can_skip:
            print_log(
                f'{type(wrapper).__name__} cannot skip an update, so training '
                'stops at the first non-finite loss; set optim_wrapper.type='
                "'SkipNonFiniteOptimWrapper' to skip up to max_skips="
                f'{self.max_skips} of them', logger='current',
                level=logging.WARNING)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        bad_terms = non_finite_loss_terms(outputs)
        if not self._non_finite_anywhere(runner.optim_wrapper, bad_terms):
            return
        per_rank = all_gather_object(bad_terms) if is_distributed() \
            else [bad_terms]
        terms = '; '.join(
            ', '.join(f'{name}={value}' for name, value in terms.items()) +
            (f' (rank {rank})' if len(per_rank) > 1 else '')
            for rank, terms in enumerate(per_rank) if terms) or 'loss'
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        count = runner.message_hub.get_info(SKIPS_KEY, 0) + 1
        runner.message_hub.update_info(SKIPS_KEY, count)
        if not self._can_skip:
            raise NonFiniteLossError(
                f'non-finite loss at {where}: {terms}. '
                f'{type(runner.optim_wrapper).__name__} has already applied '
                'this update, so training stops; resume from the last '
                'checkpoint, and use optim_wrapper.type='
                "'SkipNonFiniteOptimWrapper' to skip such updates instead")
        if count > self.max_skips:
            raise NonFiniteLossError(
                f'non-finite loss at {where}: {terms}. {count} iterations '
                'have had a non-finite loss, more than max_skips='
                f'{self.max_skips} of NonFiniteLossHook: the run is diverging '
                '(lower the lr or check the data) or max_skips is too low; '
                'resume from the last checkpoint once that is fixed')
        print_log(
            f'non-finite loss at {where}: {terms}; update skipped '
            f'({count} of at most {self.max_skips})', logger='current',
            level=logging.WARNING)

    @staticmethod
    def _non_finite_anywhere(wrapper, bad_terms: Dict) -> bool:
        """The same answer in every process."""
        if isinstance(wrapper, SkipNonFiniteOptimWrapper):
            return not wrapper.last_loss_finite
        flag = torch.tensor([float(bool(bad_terms))])
        if is_distributed():
            all_reduce(flag, op='max')
        return bool(flag.item())
