"""What a benchmark runs: runs, each a short sequence of stages.

A run is one cell of the results: its last stage trains and evaluates one
config in ``<bench>/work_dirs/<run>``. Most runs
are one training stage. A direct detection pre-training entry, a config
``X_stage2.py`` beside an ``X_stage1.py``, is one run ``X`` of three stages:
stage 1 (``X_stage1``), the hand-off of its final checkpoint (``X_handoff``)
and stage 2 (``X``), which starts from the handed-off file.

A training stage is the user's config with ``cfg_options`` merged (those of
the launch, then the stage's own: an axis of a benchmark, such as a
schedule, a seed or an initialisation, is one more entry), and ``inputs``:
config keys set to the file an earlier stage wrote (a hand-off's as
``load_from``, a converted pre-training as the backbone's checkpoint).
Stages may be shared by runs (one pre-training, several fine-tunings):
the first run that needs a stage runs it, the others find it finished.

The paper's grid is selected by name, ``{init}_vit{size}_maskrcnn_
{epochs}e.py`` in a config folder (the package's ``configs`` by default),
and so are the families' runs (``configs/dinov2/``...; by their init), or
given as a list of config files (iTPN, direct pre-training, anything). Two
more axes are selected by name too: the protocol (``frozen/{init}_vit{size}
_frozen_maskrcnn_{epochs}e.py``) and the detector (``cascade/..._cascade_
maskrcnn_...``, ``faster/..._fasterrcnn_...``). Seeds make each run one run
per seed, ``<run>_seed{s}``, its last stage trained with ``randomness.seed
= s`` and the stages before it shared.
"""
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import (Any, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import mmdet_vit_transfer
from mmdet_vit_transfer.analysis.runs import (DETECTORS, PROTOCOLS,
                                              init_key, parse_run_name,
                                              size_key, variant_key)
from mmdet_vit_transfer.utils.errors import UserInputError

#: The package's configs (a link to the repository's ``configs`` in a clone).
CONFIG_ROOT = Path(mmdet_vit_transfer.__file__).parent / '.mim' / 'configs'
STAGE1_SUFFIX, STAGE2_SUFFIX = '_stage1', '_stage2'


@dataclass(frozen=True)
class TrainStage:
    """Train (and evaluate) ``config`` in the work dir named ``name``.

    Args:
        name (str): stage name: its work dir and written config.
        config (Path): the user's config.
        cfg_options (Mapping): merged into the config after the launch's
            ``cfg_options``, as ``--cfg-options`` would be.
        inputs (Mapping[str, str]): config key -> name of the stage whose
            output file (``<bench>/checkpoints/<stage>.pth``) it is set to.
    """
    name: str
    config: Path
    cfg_options: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HandoffStage:
    """Fit the final checkpoint of stage ``stage1`` to the model of stage
    ``stage2`` (:func:`~mmdet_vit_transfer.engine.handoff_checkpoint`)."""
    name: str
    stage1: str
    stage2: str


@dataclass(frozen=True)
class ConvertStage:
    """Convert the final checkpoint of the pre-training stage ``source``
    for the backbone (:func:`~mmdet_vit_transfer.checkpoints.convert_file`,
    source format ``format``)."""
    name: str
    source: str
    format: str = 'auto'


Stage = Union[TrainStage, HandoffStage, ConvertStage]
#: Stages whose product is one file, ``<bench>/checkpoints/<name>.pth``.
FILE_STAGES = (HandoffStage, ConvertStage)


@dataclass(frozen=True)
class RunPlan:
    """One run of the benchmark: its name (that of its last stage) and its
    stages in order."""
    name: str
    stages: Tuple[Stage, ...]

    @property
    def config(self) -> Path:
        """The config of the evaluated (last) stage."""
        return self.stages[-1].config


def single_run(config: Path) -> RunPlan:
    """A run of one training stage named after its config."""
    return RunPlan(config.stem, (TrainStage(config.stem, config), ))


def direct_run(stage2_config: Path) -> RunPlan:
    """Stage 1, hand-off, stage 2 for ``X_stage2.py`` beside ``X_stage1.py``
    (the run is named ``X``)."""
    name = stage2_config.stem[:-len(STAGE2_SUFFIX)]
    stage1 = stage2_config.with_name(f'{name}{STAGE1_SUFFIX}.py')
    return RunPlan(name, (
        TrainStage(f'{name}{STAGE1_SUFFIX}', stage1),
        HandoffStage(f'{name}_handoff', f'{name}{STAGE1_SUFFIX}', name),
        TrainStage(name, stage2_config,
                   inputs={'load_from': f'{name}_handoff'}),
    ))


def plan_config(config: Union[str, Path]) -> RunPlan:
    """The run of one config file: a direct pre-training entry when it is
    an ``X_stage2.py`` with an ``X_stage1.py`` beside it, else one stage.

    Raises:
        UserInputError: the file does not exist, or is a stage 1.
    """
    config = Path(config)
    if not config.is_file():
        raise UserInputError(f'config {config} does not exist')
    stem = config.stem
    if stem.endswith(STAGE1_SUFFIX) and config.with_name(
            stem[:-len(STAGE1_SUFFIX)] + STAGE2_SUFFIX + '.py').is_file():
        raise UserInputError(
            f'{config} is stage 1 of direct pre-training; give its stage 2 '
            f'({stem[:-len(STAGE1_SUFFIX)]}{STAGE2_SUFFIX}.py), which runs '
            'stage 1, the hand-off and stage 2 in order')
    if stem.endswith(STAGE2_SUFFIX) and config.with_name(
            stem[:-len(STAGE2_SUFFIX)] + STAGE1_SUFFIX + '.py').is_file():
        return direct_run(config)
    return single_run(config)


def _schedule(value: str) -> int:
    """``'25e'`` or ``'25'`` -> 25."""
    digits = value[:-1] if value.endswith('e') else value
    if not digits.isdigit():
        raise UserInputError(f'schedule {value!r} is not a number of epochs '
                             "such as '25e'")
    return int(digits)


def grid_configs(config_dir: Union[str, Path] = CONFIG_ROOT,
                 inits: Optional[Sequence[str]] = None,
                 sizes: Optional[Sequence[str]] = None,
                 schedules: Optional[Sequence[str]] = None,
                 protocols: Sequence[str] = ('full', ),
                 detectors: Sequence[str] = ('mask_rcnn', )) -> List[Path]:
    """The grid configs (``{init}_vit{size}_maskrcnn_{epochs}e.py``, and
    their ``frozen``, ``cascade_maskrcnn`` and ``fasterrcnn`` versions) in
    the selected slice (None: every value), in the paper's table order,
    the families after it; each init's protocols and detectors together.

    The paper's grid is the configs in ``config_dir`` itself; a family's
    (``configs/dinov2/``...) are in a folder of it and run when their init
    is named; the other protocols and detectors are in folders too
    (``frozen/``, ``cascade/``, ``faster/``). A combination of a protocol
    and a detector runs where it has a config (frozen Cascade Mask R-CNN
    only where such a file exists).

    Raises:
        UserInputError: a selected init, size, schedule, protocol or
            detector has no config in the slice (the message lists what
            there is), or the slice is empty.
    """
    config_dir = Path(config_dir)
    for axis, values, valid in (('protocol', protocols, PROTOCOLS),
                                ('detector', detectors, DETECTORS)):
        unknown = [v for v in values if v not in valid]
        if unknown or not values:
            raise UserInputError(f'unknown {axis} {unknown or values}; '
                                 f'{axis}s: {", ".join(valid)}')
    found, paper = {}, set()
    for path in (*config_dir.glob('*_vit*.py'),
                 *config_dir.glob('*/*_vit*.py')):
        try:
            name = parse_run_name(path.name)
        except ValueError:
            continue
        found[name] = path
        if path.parent == config_dir:
            paper.add(name.init)
    wanted = dict(init=inits, size=sizes,
                  epochs=[_schedule(s) for s in schedules or []] or None)
    for field_name, values in wanted.items():
        there = {getattr(name, field_name) for name in found}
        missing = [v for v in values or [] if v not in there]
        if missing:
            raise UserInputError(
                f'no config in {config_dir} for {field_name} {missing}; '
                f'{field_name}s there: '
                f'{", ".join(sorted(map(str, there)))}')
    in_slice = [
        name for name in found
        if all(values is None or getattr(name, field_name) in values
               for field_name, values in wanted.items())
        and (inits is not None or name.init in paper)
    ]
    if not in_slice:
        raise UserInputError(_together(config_dir, wanted))
    for axis, values in (('protocol', protocols), ('detector', detectors)):
        for value in values:
            if not any(getattr(name, axis) == value for name in in_slice):
                there = sorted(path.stem for name, path in found.items()
                               if getattr(name, axis) == value)
                raise UserInputError(
                    f'no {value} config in {config_dir} for the selected '
                    f'inits, sizes and schedules; {value} configs there: '
                    f'{", ".join(there) or "none"}')
    selected = [name for name in in_slice
                if name.protocol in protocols and name.detector in detectors]
    if not selected:
        pairs = sorted({name.variant for name in in_slice}, key=variant_key)
        chosen = dict(wanted, protocol=list(protocols),
                      detector=list(detectors))
        raise UserInputError(f'{_together(config_dir, chosen)}; protocol+'
                             f'detector there: '
                             f'{", ".join(map("+".join, pairs))}')
    return [found[name] for name in sorted(
        selected, key=lambda n: (init_key(n.init), variant_key(n.variant),
                                 size_key(n.size), n.epochs))]


def _together(config_dir: Path, chosen: Mapping[str, Any]) -> str:
    return 'no config in {} for {} together'.format(
        config_dir, ', '.join(f'{field_name} {values}'
                              for field_name, values in chosen.items()
                              if values))


def with_seed(run: RunPlan, seed: int) -> RunPlan:
    """``run`` as its seed ``seed`` run, ``<run>_seed{seed}``: its last
    stage renamed and trained with ``randomness.seed=seed``, the stages
    before it (pre-training, hand-off) shared with its other seeds."""
    name = f'{run.name}_seed{seed}'
    *before, last = run.stages
    before = [replace(stage, stage2=name) if isinstance(stage, HandoffStage)
              and stage.stage2 == last.name else stage for stage in before]
    last = replace(last, name=name,
                   cfg_options={**last.cfg_options, 'randomness.seed': seed})
    return RunPlan(name, (*before, last))


def seeded_runs(runs: Iterable[RunPlan],
                seeds: Optional[Sequence[int]] = None) -> List[RunPlan]:
    """Each run once per seed (:func:`with_seed`), seeds inner; without
    seeds, the runs as they are.

    Raises:
        UserInputError: a seed is given twice or is negative.
    """
    if seeds is None:
        return list(runs)
    if len(set(seeds)) != len(seeds) or not seeds or min(seeds) < 0:
        raise UserInputError(f'seeds must be distinct integers >= 0, got '
                             f'{list(seeds)}')
    return [with_seed(run, seed) for run in runs for seed in seeds]


def plan_runs(configs: Iterable[Union[str, Path]]) -> List[RunPlan]:
    """The runs of ``configs``, in order, each once.

    Raises:
        UserInputError: two configs give runs of the same name.
    """
    runs, seen = [], {}
    for config in configs:
        run = plan_config(config)
        if run.name in seen:
            if seen[run.name] == Path(config).resolve():
                continue
            raise UserInputError(
                f'two configs make the run {run.name!r}: {seen[run.name]} '
                f'and {config}; rename one')
        seen[run.name] = Path(config).resolve()
        runs.append(run)
    return runs
