"""SIGTERM (as a scheduler or the benchmark launcher sends it) stops a
tools/train.py training: it ends its dataloader workers and exits with 143
once none of them is left."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from subprocess_runs import LOAD_FACTOR, gone, kill_group, start

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.utils.processes import processes

REPO = Path(__file__).parents[2]
CONFIG = REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'
#: Starting Python and the toy run take about 20 s.
TIMEOUT = 120 * LOAD_FACTOR


@pytest.mark.slow
def test_sigterm_ends_the_training_and_its_workers(tmp_path):
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=4, num_val=1)
    log = tmp_path / 'train.log'
    train = start(
        [sys.executable, REPO / 'tools' / 'train.py', CONFIG, '--work-dir',
         tmp_path / 'run', '--cfg-options', 'train_cfg.max_epochs=100',
         'train_dataloader.batch_size=1', 'train_dataloader.num_workers=2',
         'train_dataloader.persistent_workers=True',
         'default_hooks.logger.interval=1'],
        log_path=log, cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    try:
        deadline = time.monotonic() + TIMEOUT
        while 'Epoch(train)' not in log.read_text():
            assert train.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, 'no iteration logged in time'
            time.sleep(0.2)
        workers = [p.pid for p in processes() if p.ppid == train.pid]
        assert len(workers) == 2
        # Only the training process gets the signal: it must end its
        # workers itself.
        train.send_signal(signal.SIGTERM)
        train.wait(timeout=TIMEOUT)
        assert train.returncode == 128 + signal.SIGTERM
        assert all(gone(pid) for pid in workers)
    finally:
        kill_group(train)
    assert log.read_text().rstrip().endswith('stopped by SIGTERM')
