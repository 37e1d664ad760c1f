"""TIDE breakdown of detection errors (Bolya et al., ECCV 2020), as the
paper's error analysis uses it.

Every false positive at IoU 0.5 and every missed ground truth gets one
category: classification (right place, wrong class), localisation (right
class, 0.1 <= IoU < 0.5), both, duplicate (right class and place, but the
object was already matched), background (IoU < 0.1 with everything) and
missed. The delta AP of a category is the AP50 gained by fixing all its
errors with an oracle. The evaluation is the ``tidecv`` package; this module
reads COCO files into it, checks them, and writes JSON and a bar chart.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from mmengine.utils import track_iter_progress
from tidecv import TIDE, Data
from tidecv.functions import toRLE

#: tidecv's short names -> the names used in reports, in the paper's order.
ERROR_TYPES = {
    'Cls': 'classification',
    'Loc': 'localisation',
    'Both': 'cls + loc',
    'Dupe': 'duplicate',
    'Bkg': 'background',
    'Miss': 'missed',
}
TASKS = ('bbox', 'segm')
_TIDE_MODE = {'bbox': TIDE.BOX, 'segm': TIDE.MASK}
_RESULT_KEYS = ('image_id', 'category_id', 'score')


@dataclass
class ErrorBreakdown:
    """TIDE errors of one result file.

    Args:
        name (str): label of the result file in reports.
        task (str): ``'bbox'`` or ``'segm'``.
        ap50 (float): AP at IoU 0.5, in percent.
        delta_ap (dict): error type (keys of ``ERROR_TYPES``) -> AP50
            gained by fixing those errors, in percent.
        counts (dict): error type -> number of errors.
        false_positive_ap (float): AP50 gained by removing every false
            positive.
        false_negative_ap (float): AP50 gained by recalling every missed
            object.
    """
    name: str
    task: str
    ap50: float
    delta_ap: Dict[str, float]
    counts: Dict[str, int]
    false_positive_ap: float
    false_negative_ap: float


def _load_json(path: Path, what: str):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} {path} does not exist') from None
    except json.JSONDecodeError as err:
        raise ValueError(f'{what} {path} is not JSON ({err})') from None


def load_ground_truth(ann_file: Union[str, Path], task: str) -> Data:
    """COCO annotations as tidecv ground truth (crowd regions ignored).

    Raises:
        ValueError: not a COCO instances file, or (for ``'segm'``) an
            annotation without a segmentation.
    """
    coco = _load_json(ann_file, 'annotation file')
    if not isinstance(coco, dict) or not {'images', 'annotations'} <= set(
            coco):
        raise ValueError(f'annotation file {ann_file} is not a COCO instances '
                         f"file: it needs 'images' and 'annotations'")
    data = Data(Path(ann_file).stem, max_dets=100)
    sizes = {}
    for image in coco['images']:
        data.add_image(image['id'], image.get('file_name', str(image['id'])))
        sizes[image['id']] = (image['width'], image['height'])
    for category in coco.get('categories', []):
        data.add_class(category['id'], category['name'])
    for ann in coco['annotations']:
        mask = None
        if task == 'segm':
            if 'segmentation' not in ann:
                raise ValueError(
                    f"annotation {ann.get('id')} in {ann_file} has no "
                    f"segmentation; use task='bbox' for box-only data")
            mask = toRLE(ann['segmentation'], *sizes[ann['image_id']])
        add = data.add_ignore_region if ann.get(
            'iscrowd') else data.add_ground_truth
        add(ann['image_id'], ann['category_id'], ann['bbox'], mask)
    return data


def load_results(results_file: Union[str, Path], ground_truth: Data,
                 task: str) -> Data:
    """COCO-format results (a list of detections, as mmdet's ``CocoMetric``
    writes to ``<prefix>.bbox.json`` / ``<prefix>.segm.json``).

    Raises:
        ValueError: not a list of detections, a detection without the
            fields of ``task``, or image / category ids that the ground
            truth does not have.
    """
    dets = _load_json(results_file, 'result file')
    field = 'bbox' if task == 'bbox' else 'segmentation'
    if not isinstance(dets, list):
        raise ValueError(f'result file {results_file} must hold a JSON list '
                         f'of detections, got {type(dets).__name__}')
    for i, det in enumerate(dets):
        missing = [k for k in (*_RESULT_KEYS, field) if k not in det]
        if missing:
            raise ValueError(
                f'detection {i} in {results_file} lacks {missing} '
                f'(needed for {task}: {[*_RESULT_KEYS, field]})')
    for kind, key, known in (('image', 'image_id', ground_truth.images),
                             ('category', 'category_id',
                              ground_truth.classes)):
        unknown = sorted({d[key] for d in dets} - set(known))
        if unknown:
            raise ValueError(
                f'result file {results_file} has {kind} ids {unknown[:10]} '
                f'that the annotations do not have (known: '
                f'{sorted(known)[:10]}...)')
    data = Data(Path(results_file).stem)
    for det in dets:
        data.add_detection(det['image_id'], det['category_id'],
                           det['score'], det.get('bbox'),
                           det.get('segmentation') if task == 'segm' else None)
    return data


def detect_task(results_file: Union[str, Path]) -> str:
    """``'segm'`` when the detections carry masks, else ``'bbox'``."""
    dets = _load_json(results_file, 'result file')
    if isinstance(dets, list) and dets and all('segmentation' in d
                                               for d in dets):
        return 'segm'
    return 'bbox'


def tide_errors(results_file: Union[str, Path],
                ann_file: Union[str, Path],
                task: str = 'auto',
                name: Optional[str] = None,
                pos_threshold: float = 0.5,
                background_threshold: float = 0.1) -> ErrorBreakdown:
    """TIDE error breakdown of one result file.

    Args:
        results_file (str | Path): COCO-format detections.
        ann_file (str | Path): COCO annotations they are for.
        task (str): ``'bbox'``, ``'segm'`` or ``'auto'`` (segm when every
            detection has a mask).
        name (str | None): label in reports; the file name by default.
        pos_threshold (float): IoU of a true positive (0.5).
        background_threshold (float): IoU below which a false positive is
            background (0.1).

    Returns:
        ErrorBreakdown: AP50, delta AP and count per error type.
    """
    if task == 'auto':
        task = detect_task(results_file)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or 'auto', "
                         f'got {task!r}')
    ground_truth = load_ground_truth(ann_file, task)
    results = load_results(results_file, ground_truth, task)
    # TIDE() restyles matplotlib globally (seaborn theme, dpi 150) for its
    # own plots; the context puts every setting back.
    with matplotlib.rc_context():
        tide = TIDE(pos_threshold=pos_threshold,
                    background_threshold=background_threshold,
                    mode=_TIDE_MODE[task])
    run = tide.evaluate(ground_truth, results, name=name or results.name)
    delta = {e.short_name: float(v) for e, v in run.fix_main_errors().items()}
    counts = {e.short_name: int(v) for e, v in run.count_errors().items()}
    special = {e.short_name: float(v)
               for e, v in run.fix_special_errors().items()}
    return ErrorBreakdown(
        name=name or Path(results_file).name,
        task=task,
        ap50=float(run.ap),
        delta_ap={k: delta[k] for k in ERROR_TYPES},
        counts={k: counts[k] for k in ERROR_TYPES},
        false_positive_ap=special['FalsePos'],
        false_negative_ap=special['FalseNeg'])


def errors_table(breakdowns: Sequence[ErrorBreakdown]) -> str:
    """Markdown table: one row per result file, AP50 and delta AP per
    error type (counts in parentheses)."""
    lines = [
        '| result | task | AP50 | ' + ' | '.join(ERROR_TYPES.values()) +
        ' |', '|---' * (len(ERROR_TYPES) + 3) + '|'
    ]
    for b in breakdowns:
        cells = [f'{b.delta_ap[k]:.2f} ({b.counts[k]})' for k in ERROR_TYPES]
        lines.append(f'| {b.name} | {b.task} | {b.ap50:.2f} | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_errors(breakdowns: Sequence[ErrorBreakdown],
                path: Union[str, Path]) -> Path:
    """Bar chart of delta AP per error type, result files side by side."""
    fig = Figure(figsize=(max(6.0, 1.5 + 0.5 * len(ERROR_TYPES) *
                              len(breakdowns)), 4),
                 layout='constrained')
    ax = fig.subplots()
    x = np.arange(len(ERROR_TYPES))
    width = 0.8 / len(breakdowns)
    for i, b in enumerate(breakdowns):
        offset = (i - (len(breakdowns) - 1) / 2) * width
        ax.bar(x + offset, [b.delta_ap[k] for k in ERROR_TYPES], width,
               label=f'{b.name} (AP50 {b.ap50:.1f})')
    ax.set_xticks(x, list(ERROR_TYPES.values()))
    ax.set_ylabel('delta AP50 when fixed (%)')
    ax.set_title('TIDE errors')
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize='small')
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def analyze_errors(results_files: Sequence[Union[str, Path]],
                   ann_file: Union[str, Path],
                   out_dir: Union[str, Path],
                   task: str = 'auto',
                   names: Optional[Sequence[str]] = None
                   ) -> List[ErrorBreakdown]:
    """TIDE breakdowns of several result files, side by side.

    Writes ``errors.json`` (one entry per file), ``errors.md`` and
    ``errors.png`` to ``out_dir``.

    Args:
        results_files: COCO-format result files.
        ann_file: COCO annotations they are for.
        out_dir: where the reports go (created if needed).
        task (str): ``'bbox'``, ``'segm'`` or ``'auto'`` per file.
        names: labels of the files (default: file names).
    """
    if names is not None and len(names) != len(results_files):
        raise ValueError(f'{len(names)} names for {len(results_files)} '
                         f'result files')
    labels = names or [Path(f).name for f in results_files]
    breakdowns = [
        tide_errors(f, ann_file, task=task, name=label)
        for f, label in track_iter_progress(list(zip(results_files, labels)))
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'errors.json').write_text(
        json.dumps([asdict(b) for b in breakdowns], indent=2))
    (out_dir / 'errors.md').write_text(errors_table(breakdowns))
    plot_errors(breakdowns, out_dir / 'errors.png')
    return breakdowns
