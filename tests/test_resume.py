"""End to end: a training run started with ``mim train mmdet``, killed with
SIGKILL (the whole process group: mim and the training process) and resumed
with ``--resume``, ends with exactly the weights and optimizer state of a run
that was never interrupted."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from subprocess_runs import LOAD_FACTOR, kill_group, start, wait

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.utils import mmengine_checkpoint_globals

REPO = Path(__file__).parents[1]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
MIM = Path(sys.executable).parent / 'mim'
#: Two epochs of two iterations (8 images, batch 4), a checkpoint per epoch,
#: a fixed seed, deterministic algorithms, no dataloader workers.
OPTIONS = [
    'train_cfg.max_epochs=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'val_cfg=None',
    'val_dataloader=None', 'val_evaluator=None', 'randomness.seed=0',
    'randomness.deterministic=True', 'default_hooks.checkpoint.interval=1',
    'default_hooks.logger.interval=1',
    # One warmup iteration from half the lr, so the weights move.
    'param_scheduler.0.end=0.5', 'param_scheduler.0.start_factor=0.5',
    'param_scheduler.1.begin=0.5'
]
#: About 90 s for a run on an idle 2-core machine.
TIMEOUT = 300 * LOAD_FACTOR


def start_training(tmp_path, name, work_dir, *extra):
    """``mim train mmdet`` in ``work/<work_dir>``, logging to ``name``."""
    cmd = [MIM, 'train', 'mmdet', CONFIG, '--work-dir',
           tmp_path / 'work' / work_dir, '--cfg-options', *OPTIONS, *extra]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PATH=f'{MIM.parent}:{os.environ["PATH"]}')
    return start(cmd, log_path=tmp_path / f'{name}.log', cwd=tmp_path,
                 env=env)


def finish(proc, tmp_path, name):
    wait(proc, TIMEOUT)
    log = (tmp_path / f'{name}.log').read_text()
    assert proc.returncode == 0, log[-5000:]
    return log


def kill_after_first_checkpoint(proc, work_dir):
    """SIGKILL ``proc`` and its children as soon as epoch 1's checkpoint is
    recorded."""
    deadline = time.monotonic() + TIMEOUT
    while not (work_dir / 'last_checkpoint').exists():
        assert proc.poll() is None, 'training ended before its checkpoint'
        assert time.monotonic() < deadline, 'no checkpoint in time'
        time.sleep(0.05)
    kill_group(proc, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def load(path):
    with mmengine_checkpoint_globals():
        return torch.load(path, map_location='cpu', weights_only=True)


def tensors(checkpoint):
    """Every tensor of the model and optimizer state, by name."""
    found = {f'state_dict.{k}': v for k, v in checkpoint['state_dict'].items()}
    for index, state in checkpoint['optimizer']['state'].items():
        found.update({f'optimizer.{index}.{k}': v for k, v in state.items()
                      if isinstance(v, torch.Tensor)})
    return found


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_uninterrupted_weights(tmp_path):
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=8, num_val=1)
    killed_dir = tmp_path / 'work' / 'killed'
    # The two runs share the 2 cores; each uses one thread.
    uninterrupted = start_training(tmp_path, 'uninterrupted', 'uninterrupted')
    killed = start_training(tmp_path, 'killed', 'killed')
    try:
        kill_after_first_checkpoint(killed, killed_dir)
        finish(uninterrupted, tmp_path, 'uninterrupted')
    finally:
        for proc in (uninterrupted, killed):
            kill_group(proc)
    # Killed in epoch 2: only epoch 1 was saved.
    assert sorted(p.name for p in killed_dir.glob('*.pth')) == [
        'epoch_1.pth']

    log = finish(start_training(tmp_path, 'resumed', 'killed', '--resume'),
                 tmp_path, 'resumed')
    assert 'resumed epoch: 1, iter: 2' in log

    expected = tensors(load(tmp_path / 'work' / 'uninterrupted' /
                            'epoch_2.pth'))
    resumed = tensors(load(killed_dir / 'epoch_2.pth'))
    assert resumed.keys() == expected.keys()
    unequal = [k for k in expected if not torch.equal(expected[k], resumed[k])]
    assert not unequal, f'{len(unequal)} tensors differ, e.g. {unequal[:5]}'
    print(f'all {len(expected)} tensors of the model and optimizer state '
          'equal to the uninterrupted run')
    # Epoch 2 did change the weights, so equality is not trivial.
    before = load(killed_dir / 'epoch_1.pth')['state_dict']
    assert sum(not torch.equal(before[k], v)
               for k, v in load(killed_dir / 'epoch_2.pth')
               ['state_dict'].items()) > 100
