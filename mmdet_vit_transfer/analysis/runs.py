"""Finished benchmark runs read back from their mmengine work directories.

A run is a work directory that mmengine wrote: ``<work_dir>/<config>.py``
(the dumped config) and one ``<timestamp>/vis_data/{scalars.json,config.py}``
per launch (a resumed run has several). The experiment it belongs to is
spelled by its config name, ``{init}_vit{size}_maskrcnn_{epochs}e`` (e.g.
``mae_vitb_maskrcnn_25e``), with the protocol and detector where they are
not full fine-tuning of Mask R-CNN (``mae_vitb_frozen_maskrcnn_100e``,
``mae_vitb_cascade_maskrcnn_100e``, ``mae_vitb_fasterrcnn_100e``) and the
seed of a benchmark run with seeds (``mae_vitb_maskrcnn_25e_seed1``); the
schedule actually run is the config's ``train_cfg.max_epochs``, and a run
counts as finished when its last COCO evaluation is at that epoch.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple, Union

from mmengine.config import Config

from ..utils.run_results import last_coco_metrics

#: ``{init}_vit{size}[_{protocol}]_{detector}_{epochs}e[_seed{seed}]``,
#: e.g. ``beit_vitl_maskrcnn_100e``, ``dinov2_reg4_vitb_maskrcnn_100e``,
#: ``mae_vitb_frozen_cascade_maskrcnn_100e_seed2``.
RUN_NAME = re.compile(r'^(?P<init>[a-z0-9]+(?:_[a-z0-9]+)*?)_vit'
                      r'(?P<size>[a-z]+)(?:_(?P<protocol>frozen))?'
                      r'_(?P<detector>maskrcnn|cascade_maskrcnn|fasterrcnn)'
                      r'_(?P<epochs>\d+)e(?:_seed(?P<seed>\d+))?$')
#: The protocols (how much of the backbone trains) and detectors, as the
#: benchmark's options name them, and how a config name spells them.
PROTOCOLS = {'full': None, 'frozen': 'frozen'}
DETECTORS = {'mask_rcnn': 'maskrcnn', 'cascade': 'cascade_maskrcnn',
             'faster_rcnn': 'fasterrcnn'}
#: Order of the paper's tables; other initialisations follow, sorted.
INIT_ORDER = ('random', 'supervised', 'mocov3', 'beit', 'mae')
#: Model sizes from small to large; others follow, sorted.
SIZE_ORDER = ('tiny', 's', 'b', 'l', 'h')
_SCALARS = '*/vis_data/scalars.json'


@dataclass(frozen=True)
class RunName:
    """What a benchmark run's name says (:data:`RUN_NAME`).

    Args:
        init (str): initialisation, e.g. ``'mae'``.
        size (str): model size as spelled in the name, e.g. ``'b'``.
        epochs (int): fine-tuning schedule length.
        protocol (str): a key of :data:`PROTOCOLS`.
        detector (str): a key of :data:`DETECTORS`.
        seed (int | None): the seed of a run of a benchmark with seeds.
    """
    init: str
    size: str
    epochs: int
    protocol: str = 'full'
    detector: str = 'mask_rcnn'
    seed: Optional[int] = None

    @property
    def variant(self) -> Tuple[str, str]:
        """``(protocol, detector)``."""
        return self.protocol, self.detector


@dataclass(frozen=True, kw_only=True)
class BenchmarkRun(RunName):
    """The final COCO evaluation of one fine-tuning run: what its name says
    (:class:`RunName`, its ``epochs`` those it trained), and

    Args:
        box_ap (float): COCO box AP, in percent.
        mask_ap (float | None): COCO mask AP in percent, None when the run
            did not evaluate masks.
        work_dir (Path): where the run was read from.
    """
    box_ap: float
    mask_ap: Optional[float]
    work_dir: Path

    @property
    def size_label(self) -> str:
        """``'ViT-B'`` for size ``'b'``."""
        return size_label(self.size)


def size_label(size: str) -> str:
    """``'ViT-B'`` for ``'b'``, ``'ViT-Tiny'`` for ``'tiny'``."""
    return 'ViT-' + (size.upper() if len(size) == 1 else size.capitalize())


def parse_run_name(name: str) -> RunName:
    """What a config or work-dir name says of its run.

    Args:
        name (str): e.g. ``'mae_vitb_maskrcnn_25e'``,
            ``'mae_vitb_frozen_maskrcnn_100e_seed0'`` (a ``.py`` suffix is
            allowed).

    Raises:
        ValueError: the name does not follow :data:`RUN_NAME`.
    """
    stem = name[:-3] if name.endswith('.py') else name
    match = RUN_NAME.match(stem)
    if match is None:
        raise ValueError(
            f'{name!r} is not a benchmark run name: expected '
            f'{{init}}_vit{{size}}[_frozen]_{{maskrcnn|cascade_maskrcnn|'
            f'fasterrcnn}}_{{epochs}}e[_seed{{seed}}], e.g. '
            f'mae_vitb_maskrcnn_25e')
    protocol, = (k for k, v in PROTOCOLS.items() if v == match['protocol'])
    detector, = (k for k, v in DETECTORS.items() if v == match['detector'])
    seed = match['seed']
    return RunName(match['init'], match['size'], int(match['epochs']),
                   protocol, detector, None if seed is None else int(seed))


def is_run_dir(path: Path) -> bool:
    """Whether mmengine logged scalars of a training run under ``path``."""
    return any(path.glob(_SCALARS))


def find_run_dirs(paths: Iterable[Union[str, Path]]) -> List[Path]:
    """The run directories named by ``paths``.

    Args:
        paths: work directories of runs, or directories holding them (such
            as mmdet's ``work_dirs``).

    Returns:
        list[Path]: run directories, in the order given (children sorted).

    Raises:
        FileNotFoundError: a path does not exist or holds no run.
    """
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise FileNotFoundError(f'{path} is not a directory')
        if is_run_dir(path):
            found.append(path)
            continue
        children = [c for c in sorted(path.iterdir())
                    if c.is_dir() and is_run_dir(c)]
        if not children:
            raise FileNotFoundError(
                f'no mmengine training run in {path}: expected '
                f'{path}/{_SCALARS} or {path}/<run>/{_SCALARS}')
        found += children
    return found


def run_config(work_dir: Path) -> Config:
    """The config of the newest launch that logged scalars, as mmengine
    dumped it next to them (else the one at the work directory's root).

    Raises:
        FileNotFoundError: no dumped config in ``work_dir``.
    """
    launches = sorted(work_dir.glob(_SCALARS))
    dumped = [p.with_name('config.py') for p in launches[-1:]
              if p.with_name('config.py').is_file()] or sorted(
                  work_dir.glob('*.py'))
    if not dumped:
        raise FileNotFoundError(
            f'no dumped config in {work_dir} (expected '
            f'{work_dir}/<timestamp>/vis_data/config.py or '
            f'{work_dir}/<config>.py)')
    return Config.fromfile(dumped[-1], import_custom_modules=False)


def run_identity(work_dir: Path) -> RunName:
    """What the dumped config's name says of the run, else the work
    directory's (whose seed is kept: the dumped config of a seeded run
    is named like it).

    Raises:
        ValueError: neither follows :data:`RUN_NAME`.
    """
    candidates = [p.name for p in sorted(work_dir.glob('*.py'))]
    candidates.append(work_dir.name)
    for name in candidates:
        try:
            return parse_run_name(name)
        except ValueError:
            continue
    raise ValueError(
        f'cannot tell which experiment {work_dir} is: none of '
        f'{candidates} follows {{init}}_vit{{size}}_maskrcnn_{{epochs}}e '
        f'(name the config or the work dir like mae_vitb_maskrcnn_25e)')


def read_run(work_dir: Union[str, Path]) -> BenchmarkRun:
    """Read the final evaluation of a finished run.

    Args:
        work_dir (str | Path): the run's work directory.

    Raises:
        ValueError: the run is unnamed (see :func:`run_identity`) or
            unfinished (its last evaluation is before ``max_epochs``).
        FileNotFoundError: no evaluation or no config was logged.
    """
    work_dir = Path(work_dir)
    name = run_identity(work_dir)
    train_cfg = run_config(work_dir).get('train_cfg') or {}
    epochs = int(train_cfg.get('max_epochs', name.epochs))
    metrics = last_coco_metrics(work_dir)
    if metrics['step'] != epochs:
        raise ValueError(
            f'{work_dir} is unfinished: its last evaluation is at epoch '
            f"{metrics['step']} of {epochs}")
    mask_ap = metrics.get('coco/segm_mAP')
    return BenchmarkRun(
        **dict(vars(name), epochs=epochs),
        box_ap=100.0 * metrics['coco/bbox_mAP'],
        mask_ap=None if mask_ap is None else 100.0 * mask_ap,
        work_dir=work_dir)


def init_key(init: str) -> Tuple[int, str]:
    """Sort key of initialisations: the paper's order, then others."""
    return (INIT_ORDER.index(init)
            if init in INIT_ORDER else len(INIT_ORDER), init)


def size_key(size: str) -> Tuple[int, str]:
    """Sort key of model sizes: small to large, then others."""
    return (SIZE_ORDER.index(size)
            if size in SIZE_ORDER else len(SIZE_ORDER), size)


def variant_key(variant: Tuple[str, str]) -> Tuple[int, int]:
    """Sort key of ``(protocol, detector)``: in :data:`PROTOCOLS` and
    :data:`DETECTORS` order (full fine-tuning of Mask R-CNN first)."""
    protocol, detector = variant
    return list(PROTOCOLS).index(protocol), list(DETECTORS).index(detector)


def sort_runs(runs: Iterable[BenchmarkRun]) -> List[BenchmarkRun]:
    """Runs in table order: initialisation, protocol and detector, size,
    schedule, seed."""
    return sorted(runs, key=lambda r: (init_key(r.init), variant_key(
        r.variant), size_key(r.size), r.epochs, r.seed or 0))
