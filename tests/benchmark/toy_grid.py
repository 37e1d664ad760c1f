"""A three-run benchmark small enough for end-to-end tests: the toy set
(4 training, 2 validation images) and a 4-block toy ViT Mask R-CNN at
128 px, one image per batch (4 iterations an epoch), a checkpoint every
epoch, evaluation at the end:

- ``random_vittiny_maskrcnn_1e`` and ``random_vittiny_maskrcnn_2e``: the
  grid slice ``--inits random --sizes tiny --schedules 1e,2e``;
- ``direct_vittiny_maskrcnn_1e``: direct pre-training, one epoch of stage 1
  at 128 px, the hand-off, one epoch of stage 2 at 256 px.
"""
import os
import sys
import time
from pathlib import Path

from subprocess_runs import kill_group, start, wait

from mmdet_vit_transfer.benchmark.state import StateFile
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.utils.checkpoint_files import is_complete_checkpoint

REPO = Path(__file__).parents[2]
TOOL = REPO / 'tools' / 'benchmark.py'
#: The launchers' environment: one thread per training process.
ENV = dict(os.environ, OMP_NUM_THREADS='1',
           PYTHONPATH=os.pathsep.join([str(REPO),
                                       os.environ.get('PYTHONPATH', '')]))
RUNS = ('random_vittiny_maskrcnn_1e', 'random_vittiny_maskrcnn_2e',
        'direct_vittiny_maskrcnn_1e')
#: Every config of the toy grid: a smaller, faster toy detector.
SMALL = """
data_root = {data!r}
model = dict(backbone=dict(arch=dict(depth=4)))
loader = dict(num_workers=0, persistent_workers=False,
              dataset=dict(data_root=data_root))
train_dataloader = dict(batch_size=1, **loader)
val_dataloader = dict(batch_size=2, **loader)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
randomness = dict(seed=0)
"""
BASES = {
    'random_vittiny_maskrcnn_1e': ('direct/toy_vit_tiny_direct_stage1.py', 1),
    'random_vittiny_maskrcnn_2e': ('direct/toy_vit_tiny_direct_stage1.py', 2),
    'direct_vittiny_maskrcnn_1e_stage1': (
        'direct/toy_vit_tiny_direct_stage1.py', 1),
    'direct_vittiny_maskrcnn_1e_stage2': (
        'direct/toy_vit_tiny_direct_stage2.py', 1),
}


def write_toy_grid(root: Path) -> Path:
    """Write the toy set and the grid's configs under ``root``; returns the
    config folder."""
    data = root / 'data' / 'toy_coco'
    make_toy_coco(data, num_train=4, num_val=2)
    configs = root / 'configs'
    configs.mkdir(parents=True, exist_ok=True)
    for name, (base, epochs) in BASES.items():
        (configs / f'{name}.py').write_text(
            f"_base_ = {str(REPO / 'configs' / base)!r}\n" +
            SMALL.format(data=str(data) + '/', epochs=epochs))
    return configs


def launch_command(root: Path, *extra) -> list:
    """``tools/benchmark.py launch`` of the toy grid in ``root/bench``."""
    configs = root / 'configs'
    return [sys.executable, TOOL, 'launch', root / 'bench',
            '--config-dir', configs, '--inits', 'random', '--sizes', 'tiny',
            '--schedules', '1e,2e', '--configs',
            configs / 'direct_vittiny_maskrcnn_1e_stage2.py',
            '--poll-seconds', '1', *extra]


def state(bench: Path):
    """The benchmark's saved state."""
    return StateFile(bench / 'benchmark.json').load()


def job_pid(bench: Path, run: str) -> int:
    """The process (group) id of a run's local job."""
    return int(state(bench).runs[run].current.job.split(':')[1])


def wait_for(condition, proc, what: str, timeout: float) -> None:
    """Poll ``condition`` while the launcher ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f'the launcher ended before {what}'
        assert time.monotonic() < deadline, f'no {what} in time'
        time.sleep(0.05)


def launch_and_stop(root: Path, run: str, stop, timeout: float, *extra):
    """Launch the toy grid (``extra``: launcher options), call ``stop()``
    once ``run`` has saved its first epoch, and wait for the launcher to
    end. Returns the launcher's process and its seconds."""
    epoch_1 = root / 'bench' / 'work_dirs' / run / 'epoch_1.pth'
    began = time.monotonic()
    first = start(launch_command(root, *extra),
                  log_path=root / 'first.log', cwd=root, env=ENV)
    try:
        wait_for(lambda: is_complete_checkpoint(epoch_1), first, 'epoch 1',
                 timeout)
        stop()
        wait(first, timeout)
    finally:
        kill_group(first)
    return first, time.monotonic() - began
