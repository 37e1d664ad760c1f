"""Training schedules that cannot run as written, refused before the first
iteration with one line that names the config key and its value.

mmengine converts epoch-based schedulers to iterations with ``int()`` once
the training dataloader is built: a quarter-epoch warmup of an epoch of 3
iterations lasts 0 iterations, and the scheduler that begins where it ends
fails with ``ValueError: end should be larger than begin`` from deep inside
the runner. Other mistakes run without a word: a scheduler phase that
begins after the run has ended never happens, a warmup longer than the run
never reaches the configured lr, a ``MultiStepLR`` milestone past
``max_epochs`` never steps, and a zero or negative lr trains nothing or
diverges.
"""
import math
from typing import Optional, Sequence

from ..utils.errors import UserInputError

#: Schedulers that warm up from ``begin=0``: ending after the run, the lr
#: never reaches its configured value.
WARMUP_SCHEDULERS = ('LinearLR', 'QuadraticWarmupLR', 'LinearMomentum',
                     'QuadraticWarmupMomentum')


class ScheduleError(UserInputError, ValueError):
    """A schedule that cannot run as configured."""


def check_learning_rate(optim_wrapper: dict) -> None:
    """``optim_wrapper.optimizer.lr`` is positive.

    Raises:
        ScheduleError: naming the key and value.
    """
    optimizer = optim_wrapper.get('optimizer') if isinstance(
        optim_wrapper, dict) else None
    lr = optimizer.get('lr') if isinstance(optimizer, dict) else None
    if lr is not None and not lr > 0:
        raise ScheduleError(
            f'optim_wrapper.optimizer.lr = {lr!r}: the learning rate must be '
            'positive')


def check_param_schedulers(schedulers: Sequence[dict], epoch_length: int,
                           max_epochs: Optional[int],
                           max_iters: int) -> None:
    """Every scheduler of ``param_scheduler`` runs within the training.

    Args:
        schedulers (list[dict]): the ``param_scheduler`` configs (built
            schedulers are skipped).
        epoch_length (int): iterations per epoch (the training dataloader's
            length).
        max_epochs (int, optional): the run's epochs; None for an
            iteration-based loop.
        max_iters (int): the run's iterations.

    Raises:
        ScheduleError: a phase that is empty once converted to iterations,
            begins after the run's last iteration, a warmup that ends after
            it, or a ``MultiStepLR`` milestone past the end of training.
    """
    iterations = f'{epoch_length} iteration' + ('s' * (epoch_length != 1))
    run = (f'train_cfg.max_epochs = {max_epochs} of {iterations}'
           if max_epochs else f'train_cfg.max_iters = {max_iters}')
    for index, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, dict):
            continue
        key = f'param_scheduler.{index}'
        kind = scheduler.get('type', '?')
        by_epoch = scheduler.get('by_epoch', True)
        if by_epoch and max_epochs is None:
            continue
        unit = 'epochs' if by_epoch else 'iterations'
        begin = scheduler.get('begin', 0)
        end = scheduler.get('end', math.inf)
        # Positions in the steps the scheduler counts: iterations once
        # mmengine has converted an epoch-based one (with int()), else its
        # own unit.
        if by_epoch and scheduler.get('convert_to_iter_based', False):
            step, steps = 'iteration', max_iters
            first = int(begin * epoch_length)
            last = steps if end == math.inf else int(end * epoch_length)
        else:
            step, steps = unit[:-1], max_epochs if by_epoch else max_iters
            first, last = begin, end
        where = f'{step} {first}'
        if last <= first:
            raise ScheduleError(
                f'{key} ({kind}): begin = {begin}, end = {end} {unit} is '
                f'{step}s {first} to {last} at {iterations} per epoch, an '
                'empty phase: make it longer or train on more images per '
                'epoch')
        if first >= steps:
            raise ScheduleError(
                f'{key}.begin = {begin} ({kind}, {unit}) is {where}, after '
                f'the run has ended ({run}): the phase would never run')
        if kind in WARMUP_SCHEDULERS and first == 0 and last > steps:
            raise ScheduleError(
                f'{key}.end = {end} ({kind} warmup, {unit}) is {step} {last},'
                f' after the run has ended ({run}): the lr would never reach '
                'its configured value; shorten the warmup or train longer')
        late = [m for m in scheduler.get('milestones') or []
                if m > (max_epochs if by_epoch else max_iters)]
        if late:
            raise ScheduleError(
                f'{key}.milestones = {list(scheduler["milestones"])} ({kind}, '
                f'{unit}): {late[0]} is past the end of training ({run}): '
                'that step would never happen')
