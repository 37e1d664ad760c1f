"""Schedules that cannot run as written are refused with the config key and
value; the package's own schedules pass."""
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdet_vit_transfer.engine.schedule_checks import (ScheduleError,
                                                       check_learning_rate,
                                                       check_param_schedulers)

SCHEDULES = Path(__file__).resolve().parents[2] / 'configs/_base_/schedules'
COSINE = SCHEDULES / 'lsj_adamw_cosine.py'
STEP = SCHEDULES / 'lsj_adamw_step.py'

WARMUP = dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0,
              end=0.25, convert_to_iter_based=True)
COSINE_PHASE = dict(type='CosineAnnealingLR', by_epoch=True, begin=0.25,
                    convert_to_iter_based=True)


@pytest.mark.parametrize('schedule', [COSINE, STEP])
@pytest.mark.parametrize('epoch_length', [4, 1848])
def test_the_package_schedules_pass(schedule, epoch_length):
    cfg = Config.fromfile(schedule)
    max_epochs = cfg.train_cfg.max_epochs
    check_learning_rate(cfg.optim_wrapper)
    check_param_schedulers(cfg.param_scheduler, epoch_length, max_epochs,
                           max_epochs * epoch_length)


@pytest.mark.parametrize('schedulers, epoch_length, max_epochs, message', [
    # A quarter-epoch warmup of an epoch of 3 iterations lasts 0 of them
    # (mmengine: 'end should be larger than begin').
    ([WARMUP, COSINE_PHASE], 3, 2,
     r'param_scheduler.0 \(LinearLR\): begin = 0, end = 0.25 epochs is '
     r'iterations 0 to 0 at 3 iterations per epoch, an empty phase'),
    ([dict(WARMUP, end=3), dict(COSINE_PHASE, begin=3)], 4, 2,
     r'param_scheduler.0.end = 3 \(LinearLR warmup, epochs\) is iteration '
     r'12, after the run has ended \(train_cfg.max_epochs = 2 of 4 '
     r'iterations\)'),
    ([dict(type='LinearLR', by_epoch=False, begin=0, end=500)], 4, 2,
     r'param_scheduler.0.end = 500 \(LinearLR warmup, iterations\) is '
     r'iteration 500'),
    ([WARMUP, dict(type='MultiStepLR', by_epoch=True, milestones=[8, 14])],
     4, 12,
     r'param_scheduler.1.milestones = \[8, 14\] \(MultiStepLR, epochs\): 14 '
     r'is past the end of training \(train_cfg.max_epochs = 12'),
    ([WARMUP, dict(type='ConstantLR', factor=0.1, by_epoch=True, begin=30,
                   end=60, convert_to_iter_based=True)], 4, 20,
     r'param_scheduler.1.begin = 30 \(ConstantLR, epochs\) is iteration '
     r'120, after the run has ended'),
])
def test_impossible_schedules_are_named(schedulers, epoch_length,
                                        max_epochs, message):
    with pytest.raises(ScheduleError, match=message):
        check_param_schedulers(schedulers, epoch_length, max_epochs,
                               max_epochs * epoch_length)


@pytest.mark.parametrize('lr', [0, -1e-4])
def test_a_learning_rate_that_is_not_positive(lr):
    with pytest.raises(ScheduleError,
                       match=f'optim_wrapper.optimizer.lr = {lr}: the '
                       'learning rate must be positive'):
        check_learning_rate(dict(optimizer=dict(type='AdamW', lr=lr)))
