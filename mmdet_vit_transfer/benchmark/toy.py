"""The benchmark in miniature: the paper's protocol end to end on the toy
set, for a tiny ViT, on a CPU, run by the benchmark's launcher like any
other benchmark.

Three initialisations of the same ViT (8 blocks of width 192):

- ``random``: the scratch baseline (``configs/toy_vit_tiny_maskrcnn.py``).
- ``direct``: direct detection pre-training: the whole detector trained at
  half resolution (``configs/direct/toy_vit_tiny_direct_stage1.py``), handed
  off to full resolution (``tools/handoff_checkpoint.py``) and fine-tuned
  from there (``configs/direct/toy_vit_tiny_direct_stage2.py``).
- ``mae``: MAE pre-training on the toy training images with mmpretrain's MAE
  (``configs/pretrain/toy_vit_tiny_mae.py``), converted by
  ``tools/convert_checkpoint.py`` and loaded through the backbone's
  ``Pretrained`` init.

Each cell of the benchmark (:class:`ToyCell`: an initialisation and a
fine-tuning schedule) is a run of the launcher (:mod:`.plan`): the
pre-training stages of its initialisation, shared by the cells of that
initialisation (the first one runs them), then the fine-tuning, each stage
one of the package's configs with the cell's ``cfg_options`` (data
location, loaders, schedule, initial weights). The launcher writes the
configs, runs the jobs on this machine (:class:`~.backends.LocalBackend`),
resumes what an interruption stopped when run again, and writes the table,
convergence figure and TIDE errors (of the longer schedule) to
``OUT_DIR/summary/`` (:mod:`.results`). With seeds, each cell's fine-tuning
runs once per seed (:func:`.plan.seeded_runs`: its pre-training stages
shared) and the table shows mean ± std over them.
"""
import functools
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..datasets.toy_coco import make_toy_coco
from .backends import LocalBackend
from .launcher import LaunchResult, launch
from .plan import (CONFIG_ROOT, ConvertStage, HandoffStage, RunPlan, Stage,
                   TrainStage, seeded_runs)
from .results import write_results
from .state import StateFile
from .workdir import BenchmarkDir

MAE_PRETRAIN = 'mae_pretrain'
MAE_CONVERTED = 'mae_vittiny_converted'
DIRECT_STAGE1 = 'direct_stage1'
DIRECT_HANDOFF = 'direct_vittiny_handoff'


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
        jobs (int): runs at a time, sharing the cores.
    """
    num_train: int
    num_val: int
    mae_epochs: int
    direct_epochs: int
    schedules: Tuple[int, ...]
    batch_size: Optional[int] = None
    num_workers: int = 0
    jobs: int = 1

    def __post_init__(self):
        counts = dict(num_train=self.num_train, num_val=self.num_val,
                      mae_epochs=self.mae_epochs,
                      direct_epochs=self.direct_epochs,
                      batch_size=self.batch_size or 1, jobs=self.jobs)
        bad = {k: v for k, v in counts.items() if int(v) != v or v < 1}
        if bad or self.num_workers < 0:
            raise ValueError(
                f'scale counts must be positive integers (and num_workers '
                f'>= 0), got {bad or dict(num_workers=self.num_workers)}')
        if (len(set(self.schedules)) != len(self.schedules)
                or not self.schedules or min(self.schedules) < 1):
            raise ValueError(f'schedules must be distinct positive epoch '
                             f'counts, got {self.schedules}')
        if self.mae_epochs < 2:
            raise ValueError(f'mae_epochs must be >= 2 (the first is '
                             f'warmup), got {self.mae_epochs}')

    def loaders(self, splits: Sequence[str]) -> Dict[str, Any]:
        """``cfg_options`` of the dataloaders of ``splits``."""
        options = {}
        for split in splits:
            options[f'{split}_dataloader.num_workers'] = self.num_workers
            options[f'{split}_dataloader.persistent_workers'] = \
                self.num_workers > 0
        if self.batch_size:
            options['train_dataloader.batch_size'] = self.batch_size
        return options


SCALES: Dict[str, ToyBenchmarkScale] = {
    # Under an hour on 2 CPU cores (see docs/analysis.md).
    'default': ToyBenchmarkScale(num_train=400, num_val=100, mae_epochs=20,
                                 direct_epochs=2, schedules=(2, 4)),
    # A few iterations of every run: checks the protocol end to end. Two
    # at a time: most of a run's time is its process starting.
    'small': ToyBenchmarkScale(num_train=4, num_val=2, mae_epochs=2,
                               direct_epochs=1, schedules=(1, 2),
                               batch_size=1, jobs=2),
}


def schedule(epochs: int, evaluated: bool = True) -> Dict[str, Any]:
    """``cfg_options`` of an ``epochs``-long training that saves its last
    epoch and evaluates it (a pre-training evaluates nothing)."""
    return {
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'train_cfg.val_begin': epochs if evaluated else epochs + 1,
        'default_hooks.checkpoint.interval': epochs,
    }


def detection_data(data_root: Path) -> Dict[str, Any]:
    """``cfg_options`` that point a toy detection config at ``data_root``."""
    root = f'{data_root}/'
    options = {f'{split}_dataloader.dataset.data_root': root
               for split in ('train', 'val', 'test')}
    for evaluator in ('val_evaluator', 'test_evaluator'):
        options[f'{evaluator}.ann_file'] = \
            root + 'annotations/instances_val.json'
    return options


def mae_pretraining(data_root: Path, scale: ToyBenchmarkScale,
                    finetuning: str) -> Tuple[Stage, ...]:
    """MAE pre-training on the toy training images, then the conversion
    of its encoder."""
    options = {'train_dataloader.dataset.data_root': f'{data_root}/',
               **scale.loaders(['train']),
               'train_cfg.max_epochs': scale.mae_epochs,
               'default_hooks.checkpoint.interval': scale.mae_epochs}
    return (TrainStage(MAE_PRETRAIN,
                       CONFIG_ROOT / 'pretrain' / 'toy_vit_tiny_mae.py',
                       options),
            ConvertStage(MAE_CONVERTED, MAE_PRETRAIN, 'mmpretrain'))


def direct_pretraining(data_root: Path, scale: ToyBenchmarkScale,
                       finetuning: str) -> Tuple[Stage, ...]:
    """Stage 1 of direct pre-training (evaluated only through its
    fine-tunings), then its hand-off to the model of ``finetuning``."""
    options = {**detection_data(data_root),
               **scale.loaders(['train', 'val', 'test']),
               **schedule(scale.direct_epochs, evaluated=False)}
    return (TrainStage(
        DIRECT_STAGE1,
        CONFIG_ROOT / 'direct' / 'toy_vit_tiny_direct_stage1.py', options),
            HandoffStage(DIRECT_HANDOFF, DIRECT_STAGE1, finetuning))


def no_pretraining(data_root: Path, scale: ToyBenchmarkScale,
                   finetuning: str) -> Tuple[Stage, ...]:
    return ()


@dataclass(frozen=True)
class ToyInit:
    """An initialisation of the toy benchmark.

    Args:
        finetune_config (str): the fine-tuning config, relative to the
            package's configs.
        pretraining (callable): ``(data_root, scale, fine-tuning stage)``
            -> the stages that produce the initial weights (shared by the
            initialisation's cells).
        cfg_options (dict): what the fine-tuning config gets on top of the
            data, loaders and schedule.
        inputs (dict): config key -> stage whose file it is set to.
    """
    finetune_config: str
    pretraining: Callable[[Path, ToyBenchmarkScale, str],
                          Tuple[Stage, ...]] = no_pretraining
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    inputs: Dict[str, str] = field(default_factory=dict)


INITS: Dict[str, ToyInit] = {
    'random': ToyInit('toy_vit_tiny_maskrcnn.py'),
    'direct': ToyInit('direct/toy_vit_tiny_direct_stage2.py',
                      direct_pretraining,
                      inputs={'load_from': DIRECT_HANDOFF}),
    'mae': ToyInit('toy_vit_tiny_maskrcnn.py', mae_pretraining,
                   {'model.backbone.init_cfg': dict(type='Pretrained')},
                   {'model.backbone.init_cfg.checkpoint': MAE_CONVERTED}),
}
ARMS = tuple(INITS)


@dataclass(frozen=True)
class ToyCell:
    """One cell of the toy benchmark: an initialisation fine-tuned for a
    number of epochs. Another axis is another field here and another
    ``cfg_options`` entry in :meth:`run`."""
    init: str
    epochs: int

    @property
    def name(self) -> str:
        """The run's name in the benchmark's convention."""
        return f'{self.init}_vittiny_maskrcnn_{self.epochs}e'

    def run(self, data_root: Path, scale: ToyBenchmarkScale) -> RunPlan:
        """Its pre-training stages, then its fine-tuning."""
        init = INITS[self.init]
        options = {**detection_data(data_root),
                   **scale.loaders(['train', 'val', 'test']),
                   **init.cfg_options, **schedule(self.epochs)}
        finetuning = TrainStage(self.name,
                                CONFIG_ROOT / init.finetune_config, options,
                                init.inputs)
        return RunPlan(self.name, (*init.pretraining(data_root, scale,
                                                     self.name), finetuning))


def toy_cells(arms: Sequence[str],
              scale: ToyBenchmarkScale) -> List[ToyCell]:
    """Every initialisation at every schedule, in the table's order."""
    return [ToyCell(arm, epochs) for arm in arms
            for epochs in scale.schedules]


@dataclass
class ToyBenchmarkResult:
    """What :func:`run_toy_benchmark` produced.

    Args:
        launch (LaunchResult): every run's status and the reports written
            (``markdown``, ``csv``, ``plot``, ``runs``, ``errors``,
            ``errors_plot``, and ``timings``).
        seconds (dict): run name -> wall seconds of its job in this launch
            (a run's pre-training stages included; runs finished earlier
            are left out).
        total_seconds (float): wall time of the launch.
    """
    launch: LaunchResult
    seconds: Dict[str, float]
    total_seconds: float

    @property
    def files(self) -> Dict[str, Path]:
        return self.launch.files


def run_toy_benchmark(out_dir: Union[str, Path],
                      scale: Union[str, ToyBenchmarkScale] = 'default',
                      arms: Sequence[str] = ARMS,
                      say: Callable[[str], None] = print,
                      seeds: Optional[Sequence[int]] = None
                      ) -> ToyBenchmarkResult:
    """Write the toy set, then pre-train, fine-tune, evaluate and summarise
    every cell through the launcher; run again, it continues.

    Args:
        out_dir (str | Path): the benchmark's work dir: ``data/`` (the toy
            set) beside the launcher's files (:mod:`.workdir`).
        scale (str | ToyBenchmarkScale): a name from ``SCALES`` or a scale.
        arms: initialisations to run, from ``ARMS``.
        say (callable): where the launcher's progress lines go.
        seeds (list[int], optional): each fine-tuning once per seed
            (``<cell>_seed<s>``); None: once, with the configs' seed.
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
    out_dir = Path(out_dir).resolve()
    data_root = out_dir / 'data' / 'toy_coco'
    make_toy_coco(data_root, scale.num_train, scale.num_val)
    cells = toy_cells(arms, scale)
    runs = seeded_runs([cell.run(data_root, scale) for cell in cells], seeds)
    # TIDE errors of the longer schedule (of its first seed).
    first_seed = f'_seed{seeds[0]}' if seeds else ''
    longest = [cell.name + first_seed for cell in cells
               if cell.epochs == max(scale.schedules)]
    began, began_at = time.perf_counter(), time.time()
    result = launch(out_dir, runs, LocalBackend(parallel=scale.jobs),
                    poll_seconds=1.0, say=say,
                    results=functools.partial(write_results,
                                              error_runs=longest))
    total = time.perf_counter() - began
    seconds = launch_seconds(BenchmarkDir(out_dir), [r.name for r in runs],
                             began_at)
    result.files['timings'] = out_dir / 'summary' / 'timings.json'
    result.files['timings'].parent.mkdir(parents=True, exist_ok=True)
    result.files['timings'].write_text(json.dumps(dict(
        scale=asdict(scale), seconds=seconds, total_seconds=total),
        indent=2))
    return ToyBenchmarkResult(result, seconds, total)


def launch_seconds(bench: BenchmarkDir, runs: Sequence[str],
                   began_at: float) -> Dict[str, float]:
    """Seconds of the attempts of ``runs`` that started at or after
    ``began_at`` (a time stamp), by run."""
    state = StateFile(bench.state).load()
    seconds = {}
    for name in runs:
        for attempt in state.runs[name].attempts:
            if not attempt.ended:
                continue
            started = datetime.fromisoformat(attempt.started).timestamp()
            if started >= int(began_at):
                ended = datetime.fromisoformat(attempt.ended).timestamp()
                seconds[name] = seconds.get(name, 0.0) + ended - started
    return seconds
