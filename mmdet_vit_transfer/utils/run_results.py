"""Read the evaluation results that mmengine logged for a training run."""
import json
from pathlib import Path
from typing import Dict, Union

METRIC_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def last_coco_metrics(work_dir: Union[str, Path]) -> Dict[str, float]:
    """The last CocoMetric evaluation of the newest run in ``work_dir``.

    mmengine writes one ``<timestamp>/vis_data/scalars.json`` per run, a JSON
    object per line; evaluation lines carry ``coco/bbox_mAP`` and friends.

    Raises:
        FileNotFoundError: no run, or no evaluation in the newest run.
    """
    runs = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not runs:
        raise FileNotFoundError(f'no mmengine run with logged scalars in '
                                f'{work_dir}')
    evaluations = [
        row for row in map(json.loads, runs[-1].read_text().splitlines())
        if 'coco/bbox_mAP' in row
    ]
    if not evaluations:
        raise FileNotFoundError(f'{runs[-1]} holds no COCO evaluation')
    return evaluations[-1]


def coco_metrics_table(metrics: Dict[str, float]) -> str:
    """Markdown table of box and mask AP (COCO AP, AP50, AP75, S/M/L)."""
    header = '| | ' + ' | '.join(
        m.replace('mAP', 'AP') for m in METRIC_NAMES) + ' |'
    lines = [header, '|---' * (len(METRIC_NAMES) + 1) + '|']
    for task in ('bbox', 'segm'):
        if f'coco/{task}_mAP' not in metrics:
            continue
        values = [f"{metrics[f'coco/{task}_{m}']:.3f}" for m in METRIC_NAMES]
        lines.append(f'| {task} | ' + ' | '.join(values) + ' |')
    return '\n'.join(lines)
