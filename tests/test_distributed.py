"""End to end: two training processes on the CPU (gloo) started the way
MMDetection users start them, through ``mim train mmdet ... --launcher
pytorch``, through torchrun with mmdet's own ``tools/train.py`` and through
this package's ``tools/dist_train.sh`` (as the README runs it); the
synchronised BatchNorm of the FPN and the heads is checked for equal
statistics on both ranks. Then two test processes through
tools/dist_test.sh."""
import os
import re
import socket
import sys
from pathlib import Path

import pytest
import torch
from subprocess_runs import LOAD_FACTOR, run

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.utils import mmengine_checkpoint_globals
from mmdet_vit_transfer.utils.mmdet_tools import mmdet_tool

REPO = Path(__file__).parents[1]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
DIST_TRAIN = REPO / 'tools' / 'dist_train.sh'
DIST_TEST = REPO / 'tools' / 'dist_test.sh'
MIM = Path(sys.executable).parent / 'mim'
#: Two processes with two images each: two iterations over eight images.
OPTIONS = [
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
    'randomness.seed=0', 'default_hooks.logger.interval=1',
    # 0.25-epoch warmup of two iterations rounds to none; make it one.
    'param_scheduler.0.end=0.5', 'param_scheduler.1.begin=0.5'
]
#: About 100 s for a run on an idle 2-core machine.
TIMEOUT = 300 * LOAD_FACTOR


def launch(cmd, cwd):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(free_port()),
               PATH=f'{MIM.parent}:{os.environ["PATH"]}')
    result = run(cmd, timeout=TIMEOUT, cwd=cwd, env=env)
    # torchrun (and mim after it) exits with 0 only if every rank did.
    assert result.returncode == 0, result.output[-5000:]
    return result.output


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(how, config, work_dir):
    """mmdet's train.py on two processes, started as a user would."""
    port = free_port()
    args = ['--work-dir', work_dir, '--cfg-options', *OPTIONS]
    if how == 'mim':
        return [MIM, 'train', 'mmdet', config, '--launcher', 'pytorch',
                '--gpus', '2', '--port', port, *args]
    if how == 'dist_train.sh':
        # launch() passes the port in PORT; 2 x 2 images is the toy's
        # base batch, so --auto-scale-lr keeps the lr.
        return ['bash', DIST_TRAIN, config, 2, '--auto-scale-lr', *args]
    return [sys.executable, '-m', 'torch.distributed.run',
            '--nproc_per_node=2', f'--master_port={port}',
            mmdet_tool('train.py'), config, '--launcher', 'pytorch', *args]


@pytest.mark.slow
@pytest.mark.parametrize('how', ['mim', 'torchrun', 'dist_train.sh'])
def test_cpu_ddp_trains_with_equal_synced_bn(tmp_path, how):
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=8, num_val=1)
    config = tmp_path / 'toy_dist.py'
    config.write_text(
        f"_base_ = '{CONFIG}'\n"
        "custom_hooks = [*_base_.custom_hooks, "
        "dict(type='SyncedNormCheckHook')]\n")
    work_dir = tmp_path / 'work'
    log = launch(train_command(how, config, work_dir), cwd=tmp_path)
    if not torch.cuda.is_available():
        assert "distributed backend 'gloo' instead of the configured " \
            "'nccl'" in log
    agreed = re.search(
        r'running statistics of (\d+) synchronised norm layers agree across '
        r'2 processes \(largest difference ([^)]+)\)', log)
    assert agreed, log[-5000:]
    # FPN (4 lateral and 4 output convs), 4 box-head and 4 mask-head convs.
    assert int(agreed.group(1)) == 16
    with mmengine_checkpoint_globals():
        checkpoint = torch.load(work_dir / 'epoch_1.pth', map_location='cpu',
                                weights_only=True)
    assert checkpoint['meta']['iter'] == 2
    tracked = [value for key, value in checkpoint['state_dict'].items()
               if key.endswith('num_batches_tracked')]
    assert tracked and all(int(n) > 0 for n in tracked)
    if how != 'torchrun':
        return

    log = launch(['bash', DIST_TEST, CONFIG, work_dir / 'epoch_1.pth', 2,
                  '--work-dir', tmp_path / 'test', '--cfg-options',
                  'test_dataloader.num_workers=0',
                  'test_dataloader.persistent_workers=False'], cwd=tmp_path)
    assert re.search(r'Epoch\(test\) \[1/1\] +coco/bbox_mAP: ', log), \
        log[-3000:]
