"""End to end: two training processes on the CPU through tools/dist_train.sh
(torchrun, gloo), with the synchronised BatchNorm of the FPN and the heads
checked for equal statistics on both ranks, then two test processes through
tools/dist_test.sh."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmdet_vit_transfer  # noqa: F401  (allow-lists mmengine's types)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco

REPO = Path(__file__).parents[1]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
DIST_TRAIN = REPO / 'tools' / 'dist_train.sh'
DIST_TEST = REPO / 'tools' / 'dist_test.sh'
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


def run(script, *args, cwd):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', str(script), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True,
                          timeout=1200)
    log = proc.stdout + proc.stderr
    # torchrun exits with 0 only if every rank did.
    assert proc.returncode == 0, log[-5000:]
    return log


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cpu_ddp_trains_with_equal_synced_bn_then_tests(tmp_path):
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=8, num_val=1)
    config = tmp_path / 'toy_dist.py'
    config.write_text(
        f"_base_ = '{CONFIG}'\n"
        "custom_hooks = [*_base_.custom_hooks, "
        "dict(type='SyncedNormCheckHook')]\n")
    work_dir = tmp_path / 'work'
    log = run(DIST_TRAIN, config, 2, '--work-dir', work_dir, '--cfg-options',
              *OPTIONS, cwd=tmp_path)
    if not torch.cuda.is_available():
        assert "distributed backend 'gloo' instead of the configured " \
            "'nccl'" in log
    agreed = re.search(
        r'running statistics of (\d+) synchronised norm layers agree across '
        r'2 processes \(largest difference ([^)]+)\)', log)
    assert agreed, log[-5000:]
    # FPN (4 lateral and 4 output convs), 4 box-head and 4 mask-head convs.
    assert int(agreed.group(1)) == 16
    checkpoint = torch.load(work_dir / 'epoch_1.pth', map_location='cpu',
                            weights_only=True)
    assert checkpoint['meta']['iter'] == 2
    tracked = [value for key, value in checkpoint['state_dict'].items()
               if key.endswith('num_batches_tracked')]
    assert tracked and all(int(n) > 0 for n in tracked)

    log = run(DIST_TEST, CONFIG, work_dir / 'epoch_1.pth', 2, '--work-dir',
              tmp_path / 'test', '--cfg-options',
              'test_dataloader.num_workers=0',
              'test_dataloader.persistent_workers=False', cwd=tmp_path)
    assert re.search(r'Epoch\(test\) \[1/1\] +coco/bbox_mAP: ', log), \
        log[-3000:]
