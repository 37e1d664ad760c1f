"""The benchmark in miniature: the paper's protocol end to end on the toy
set, for a tiny ViT, on a CPU.

Three initialisations of the same ViT (8 blocks of width 192):

- ``random``: the scratch baseline (``configs/toy_vit_tiny_maskrcnn.py``).
- ``direct``: direct detection pre-training: the whole detector trained at
  half resolution (``configs/direct/toy_vit_tiny_direct_stage1.py``), handed
  off to full resolution (:func:`~mmdet_vit_transfer.checkpoints.
  handoff_checkpoint`) and fine-tuned from there
  (``configs/direct/toy_vit_tiny_direct_stage2.py``).
- ``mae``: MAE pre-training on the toy training images with mmpretrain's MAE
  (``configs/pretrain/toy_vit_tiny_mae.py``), converted with
  :func:`~mmdet_vit_transfer.checkpoints.convert_file` and loaded through the
  backbone's ``Pretrained`` init.

Each is fine-tuned with Mask R-CNN at two schedule lengths, evaluated with
mmdet's ``CocoMetric`` at the end, and summarised with
:func:`~mmdet_vit_transfer.analysis.summarize_benchmark` (table and
convergence figure) and :func:`~mmdet_vit_transfer.analysis.error_analysis.
analyze_errors` (TIDE errors of the longer schedule). Every run is an
mmengine run of a small generated config that inherits a config of the
package and states the data location, schedule and initial weights, so it
can be rerun alone with ``mim train``. Runs whose final checkpoint exists are
not run again.
"""
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

import mmdet_vit_transfer
from mmdet_vit_transfer.checkpoints import convert_file
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.engine import handoff_checkpoint

from .benchmark_table import BenchmarkSummary, summarize_benchmark
from .error_analysis import ErrorBreakdown, analyze_errors

#: The package's configs (a link to the repository's ``configs`` in a clone).
CONFIG_ROOT = Path(mmdet_vit_transfer.__file__).parent / '.mim' / 'configs'
FINETUNE_CONFIGS = {
    'random': 'toy_vit_tiny_maskrcnn.py',
    'direct': 'direct/toy_vit_tiny_direct_stage2.py',
    'mae': 'toy_vit_tiny_maskrcnn.py',
}
DIRECT_STAGE1_CONFIG = 'direct/toy_vit_tiny_direct_stage1.py'
MAE_PRETRAIN_CONFIG = 'pretrain/toy_vit_tiny_mae.py'
ARMS = tuple(FINETUNE_CONFIGS)


@dataclass(frozen=True)
class ToyBenchmarkScale:
    """How much of everything a toy benchmark runs.

    Args:
        num_train (int): toy training images.
        num_val (int): toy validation images.
        mae_epochs (int): MAE pre-training epochs (>= 2: one is warmup).
        direct_epochs (int): epochs of stage 1 of direct pre-training.
        schedules (tuple[int, int]): fine-tuning epochs, short and long.
        batch_size (int | None): training batch of every run; None keeps
            each config's. An epoch needs 4 iterations or more for the
            quarter-epoch warmups to last an iteration.
        num_workers (int): dataloader workers of every run.
    """
    num_train: int
    num_val: int
    mae_epochs: int
    direct_epochs: int
    schedules: Tuple[int, ...]
    batch_size: Optional[int] = None
    num_workers: int = 0

    def __post_init__(self):
        counts = dict(num_train=self.num_train, num_val=self.num_val,
                      mae_epochs=self.mae_epochs,
                      direct_epochs=self.direct_epochs,
                      batch_size=self.batch_size or 1)
        bad = {k: v for k, v in counts.items() if int(v) != v or v < 1}
        if bad or self.num_workers < 0:
            raise ValueError(
                f'scale counts must be positive integers (and num_workers '
                f'>= 0), got {bad or dict(num_workers=self.num_workers)}')
        if (len(set(self.schedules)) != len(self.schedules)
                or not self.schedules or min(self.schedules) < 1):
            raise ValueError(f'schedules must be distinct positive epoch '
                             f'counts, got {self.schedules}')


SCALES: Dict[str, ToyBenchmarkScale] = {
    # Under an hour on 2 CPU cores (see docs/analysis.md).
    'default': ToyBenchmarkScale(num_train=400, num_val=100, mae_epochs=20,
                                 direct_epochs=2, schedules=(2, 4)),
    # A few iterations of every run: checks the protocol end to end.
    'small': ToyBenchmarkScale(num_train=4, num_val=2, mae_epochs=2,
                               direct_epochs=1, schedules=(1, 2),
                               batch_size=1),
}


@dataclass
class ToyBenchmarkResult:
    """What :func:`run_toy_benchmark` produced.

    Args:
        summary (BenchmarkSummary): the table and figure of the fine-tuning
            runs.
        errors (list): TIDE breakdowns of the longer schedule, per arm.
        timings (dict): stage name -> wall seconds, of the stages that ran
            (runs whose final checkpoint existed are reused, not timed).
        files (dict): name -> path of every report written.
    """
    summary: BenchmarkSummary
    errors: List[ErrorBreakdown]
    timings: Dict[str, float] = field(default_factory=dict)
    files: Dict[str, Path] = field(default_factory=dict)


def run_name(arm: str, epochs: int) -> str:
    """Fine-tuning run name in the benchmark's convention."""
    return f'{arm}_vittiny_maskrcnn_{epochs}e'


def _loader(scale: ToyBenchmarkScale, train: bool, dataset: str) -> str:
    batch = (f'batch_size={scale.batch_size}, '
             if train and scale.batch_size else '')
    return (f'dict({batch}num_workers={scale.num_workers}, '
            f'persistent_workers={scale.num_workers > 0}, '
            f'dataset=dict({dataset}))')


def _data_settings(data_root: Path, scale: ToyBenchmarkScale) -> str:
    """Config lines pointing the detection dataloaders at the toy set of
    this benchmark, with the scale's batch size and workers."""
    dataset = 'data_root=data_root'
    return (f'data_root = {str(data_root) + "/"!r}\n'
            f'train_dataloader = {_loader(scale, True, dataset)}\n'
            f'val_dataloader = {_loader(scale, False, dataset)}\n'
            'test_dataloader = val_dataloader\n')


def _evaluation_settings(work_dir: Path) -> str:
    ann = 'data_root + ' + repr('annotations/instances_val.json')
    prefix = str(work_dir / 'results')
    return (f'val_evaluator = dict(ann_file={ann}, '
            f'outfile_prefix={prefix!r})\n'
            'test_evaluator = val_evaluator\n')


def write_config(path: Path, base: str, body: str) -> Path:
    """A config that inherits ``base`` (relative to ``CONFIG_ROOT``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'_base_ = {str(CONFIG_ROOT / base)!r}\n\n{body}')
    return path


def finetune_config(out_dir: Path, arm: str, epochs: int,
                    scale: ToyBenchmarkScale,
                    init_checkpoint: Optional[Path]) -> Path:
    """The generated config of one fine-tuning run (see the module doc)."""
    name = run_name(arm, epochs)
    work_dir = out_dir / 'work_dirs' / name
    body = _data_settings(out_dir / 'data' / 'toy_coco', scale)
    body += _evaluation_settings(work_dir)
    body += (f'train_cfg = dict(max_epochs={epochs}, val_interval={epochs})\n'
             f'default_hooks = dict(checkpoint=dict(interval={epochs}))\n'
             'randomness = dict(seed=0)\n'
             f'work_dir = {str(work_dir)!r}\n')
    if arm == 'direct':
        body += f'load_from = {str(init_checkpoint)!r}\n'
    elif arm == 'mae':
        init_cfg = (f"dict(type='Pretrained', "
                    f'checkpoint={str(init_checkpoint)!r})')
        body += f'model = dict(backbone=dict(init_cfg={init_cfg}))\n'
    return write_config(out_dir / 'configs' / f'{name}.py',
                        FINETUNE_CONFIGS[arm], body)


def pretrain_config(out_dir: Path, name: str, base: str, epochs: int,
                    scale: ToyBenchmarkScale, data_prefix: str = '') -> Path:
    """The generated config of a pre-training run (MAE or direct stage 1)."""
    data_root = out_dir / 'data' / 'toy_coco'
    if data_prefix:
        # mmpretrain's image folder dataset: training images only.
        dataset = f'data_root=data_root, data_prefix={data_prefix!r}'
        body = (f'data_root = {str(data_root) + "/"!r}\n'
                f'train_dataloader = {_loader(scale, True, dataset)}\n')
    else:
        body = _data_settings(data_root, scale)
        body += ('val_evaluator = dict(ann_file=data_root + '
                 "'annotations/instances_val.json')\n"
                 'test_evaluator = val_evaluator\n')
    # Pre-training is not evaluated (val_begin after the last epoch).
    body += (f'train_cfg = dict(max_epochs={epochs}, val_begin={epochs + 1})'
             f'\ndefault_hooks = dict(checkpoint=dict(interval={epochs}))\n'
             'randomness = dict(seed=0)\n'
             f"work_dir = {str(out_dir / 'pretrain' / name)!r}\n")
    return write_config(out_dir / 'configs' / f'{name}.py', base, body)


def train(config: Path) -> Tuple[Path, bool]:
    """Train a config with mmengine's Runner in this process.

    Returns:
        tuple: the final checkpoint, and whether it was trained now (False:
        it existed and was reused).
    """
    cfg = Config.fromfile(config)
    final = Path(cfg.work_dir) / f'epoch_{cfg.train_cfg.max_epochs}.pth'
    # mmdet names its visualizer 'visualizer', and a second Runner in the
    # process would get the first one back and log into the first run's
    # directory; unnamed, each run's visualizer is named after the run.
    cfg.visualizer.pop('name', None)
    if final.is_file():
        return final, False
    Runner.from_cfg(cfg).train()
    if not final.is_file():
        raise RuntimeError(f'training {config} wrote no {final}')
    return final, True


class _StageClock:
    """Wall time of every stage that ran, and the names of reused ones."""

    def __init__(self):
        self.seconds: Dict[str, float] = {}
        self.reused: List[str] = []

    def train(self, name: str, config: Path) -> Path:
        start = time.perf_counter()
        checkpoint, trained = train(config)
        if trained:
            self.seconds[name] = time.perf_counter() - start
        else:
            self.reused.append(name)
        return checkpoint


def run_toy_benchmark(out_dir: Union[str, Path],
                      scale: Union[str, ToyBenchmarkScale] = 'default',
                      arms: Sequence[str] = ARMS) -> ToyBenchmarkResult:
    """Pre-train, fine-tune, evaluate and summarise every arm.

    Args:
        out_dir (str | Path): everything goes here: ``data/``,
            ``configs/`` (generated), ``pretrain/`` and ``work_dirs/`` (runs),
            ``checkpoints/`` (converted and handed-off weights), ``summary/``
            (table, convergence figure, error analysis, timings).
        scale (str | ToyBenchmarkScale): a name from ``SCALES`` or a scale.
        arms: initialisations to run, from ``ARMS``.
    """
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ValueError(f'unknown scale {scale!r}; valid: '
                             f'{sorted(SCALES)}')
        scale = SCALES[scale]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ValueError(f'arms must be a non-empty subset of {ARMS}, got '
                         f'{list(arms)}')
    if 'mae' in arms and scale.mae_epochs < 2:
        raise ValueError(f'mae_epochs must be >= 2 (the first is warmup), '
                         f'got {scale.mae_epochs}')
    out_dir = Path(out_dir).resolve()
    checkpoints = out_dir / 'checkpoints'
    checkpoints.mkdir(parents=True, exist_ok=True)
    clock = _StageClock()
    stages = 1 + ('mae' in arms) + ('direct' in arms) + len(arms) * len(
        scale.schedules) + 1
    progress = ProgressBar(stages)

    make_toy_coco(out_dir / 'data' / 'toy_coco', scale.num_train,
                  scale.num_val)
    progress.update()
    init = {'random': None}
    if 'mae' in arms:
        config = pretrain_config(out_dir, 'mae_pretrain', MAE_PRETRAIN_CONFIG,
                                 scale.mae_epochs, scale, data_prefix='train/')
        mae_checkpoint = clock.train('MAE pre-training', config)
        init['mae'] = checkpoints / 'mae_vittiny_converted.pth'
        report = convert_file(mae_checkpoint, init['mae'], 'mmpretrain')
        print_log(f'MAE encoder converted to {init["mae"]}:\n{report}',
                  logger='current')
        progress.update()
    if 'direct' in arms:
        config = pretrain_config(out_dir, 'direct_stage1',
                                 DIRECT_STAGE1_CONFIG, scale.direct_epochs,
                                 scale)
        stage1 = clock.train('direct stage 1', config)
        init['direct'] = checkpoints / 'direct_vittiny_handoff.pth'
        report = handoff_checkpoint(
            stage1, CONFIG_ROOT / FINETUNE_CONFIGS['direct'], init['direct'])
        print_log(f'Stage-1 detector handed off to {init["direct"]}:\n'
                  f'{report}', logger='current')
        progress.update()

    finetuned = []
    for arm in arms:
        for epochs in scale.schedules:
            config = finetune_config(out_dir, arm, epochs, scale, init[arm])
            clock.train(run_name(arm, epochs), config)
            finetuned.append(out_dir / 'work_dirs' / run_name(arm, epochs))
            progress.update()

    summary_dir = out_dir / 'summary'
    summary = summarize_benchmark(finetuned, summary_dir)
    longest = max(scale.schedules)
    errors = analyze_errors(
        [out_dir / 'work_dirs' / run_name(arm, longest) / 'results.bbox.json'
         for arm in arms],
        out_dir / 'data' / 'toy_coco' / 'annotations' / 'instances_val.json',
        summary_dir,
        task='bbox',
        names=[run_name(arm, longest) for arm in arms])
    progress.update()
    files = dict(summary.files, errors_json=summary_dir / 'errors.json',
                 errors_table=summary_dir / 'errors.md',
                 errors_plot=summary_dir / 'errors.png')
    files['timings'] = summary_dir / 'timings.json'
    files['timings'].write_text(json.dumps(dict(
        scale=asdict(scale), seconds=clock.seconds, reused=clock.reused,
        total_seconds=sum(clock.seconds.values())), indent=2))
    return ToyBenchmarkResult(summary=summary, errors=errors,
                              timings=clock.seconds, files=files)
