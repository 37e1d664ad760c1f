"""Finished benchmark runs read back from their mmengine work directories.

A run is a work directory that mmengine wrote: ``<work_dir>/<config>.py``
(the dumped config) and one ``<timestamp>/vis_data/{scalars.json,config.py}``
per launch (a resumed run has several). The experiment it belongs to is
spelled by its config name, ``{init}_vit{size}_maskrcnn_{epochs}e`` (e.g.
``mae_vitb_maskrcnn_25e``); the schedule actually run is the config's
``train_cfg.max_epochs``, and a run counts as finished when its last COCO
evaluation is at that epoch.
"""
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple, Union

from mmengine.config import Config

from ..utils.run_results import last_coco_metrics

#: ``{init}_vit{size}_maskrcnn_{epochs}e``, e.g. ``beit_vitl_maskrcnn_100e``
#: or ``dinov2_reg4_vitb_maskrcnn_100e``.
RUN_NAME = re.compile(r'^(?P<init>[a-z0-9]+(?:_[a-z0-9]+)*?)_vit'
                      r'(?P<size>[a-z]+)_maskrcnn_(?P<epochs>\d+)e$')
#: Order of the paper's tables; other initialisations follow, sorted.
INIT_ORDER = ('random', 'supervised', 'mocov3', 'beit', 'mae')
#: Model sizes from small to large; others follow, sorted.
SIZE_ORDER = ('tiny', 's', 'b', 'l', 'h')
_SCALARS = '*/vis_data/scalars.json'


@dataclass(frozen=True)
class BenchmarkRun:
    """The final COCO evaluation of one fine-tuning run.

    Args:
        init (str): initialisation, e.g. ``'mae'``.
        size (str): model size as spelled in the name, e.g. ``'b'``.
        epochs (int): fine-tuning schedule length.
        box_ap (float): COCO box AP, in percent.
        mask_ap (float | None): COCO mask AP in percent, None when the run
            did not evaluate masks.
        work_dir (Path): where the run was read from.
    """
    init: str
    size: str
    epochs: int
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


def parse_run_name(name: str) -> Tuple[str, str, int]:
    """``(init, size, epochs)`` of a config or work-dir name.

    Args:
        name (str): e.g. ``'mae_vitb_maskrcnn_25e'`` (a ``.py`` suffix is
            allowed).

    Raises:
        ValueError: the name does not follow
            ``{init}_vit{size}_maskrcnn_{epochs}e``.
    """
    stem = name[:-3] if name.endswith('.py') else name
    match = RUN_NAME.match(stem)
    if match is None:
        raise ValueError(
            f'{name!r} is not a benchmark run name: expected '
            f'{{init}}_vit{{size}}_maskrcnn_{{epochs}}e, e.g. '
            f'mae_vitb_maskrcnn_25e')
    return match['init'], match['size'], int(match['epochs'])


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


def run_identity(work_dir: Path) -> Tuple[str, str, int]:
    """``(init, size, epochs in the name)`` from the dumped config's name,
    else from the work directory's name.

    Raises:
        ValueError: neither follows ``{init}_vit{size}_maskrcnn_{epochs}e``.
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
    init, size, name_epochs = run_identity(work_dir)
    train_cfg = run_config(work_dir).get('train_cfg') or {}
    epochs = int(train_cfg.get('max_epochs', name_epochs))
    metrics = last_coco_metrics(work_dir)
    if metrics['step'] != epochs:
        raise ValueError(
            f'{work_dir} is unfinished: its last evaluation is at epoch '
            f"{metrics['step']} of {epochs}")
    mask_ap = metrics.get('coco/segm_mAP')
    return BenchmarkRun(
        init=init,
        size=size,
        epochs=epochs,
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


def sort_runs(runs: Iterable[BenchmarkRun]) -> List[BenchmarkRun]:
    """Runs in table order: initialisation, size, schedule."""
    return sorted(
        runs, key=lambda r: (init_key(r.init), size_key(r.size), r.epochs))
