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


def training_curves(work_dir: Union[str, Path]) -> Dict[str, list]:
    """Loss per logged iteration and box / mask AP per evaluation of the
    newest run in ``work_dir``: ``{'step', 'loss', 'eval_step', 'bbox',
    'segm'}`` lists.

    Raises:
        FileNotFoundError: no run with logged scalars in ``work_dir``.
    """
    runs = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not runs:
        raise FileNotFoundError(f'no mmengine run with logged scalars in '
                                f'{work_dir}')
    curves = {key: [] for key in ('step', 'loss', 'eval_step', 'bbox',
                                  'segm')}
    rows = list(map(json.loads, runs[-1].read_text().splitlines()))
    last_step = 0
    for row in rows:
        if 'loss' in row:
            last_step = row['step']
            curves['step'].append(row['step'])
            curves['loss'].append(row['loss'])
        elif 'coco/bbox_mAP' in row:
            # Evaluation rows count epochs; place them at the last iteration.
            curves['eval_step'].append(last_step)
            curves['bbox'].append(row['coco/bbox_mAP'])
            curves['segm'].append(row.get('coco/segm_mAP', float('nan')))
    return curves


def plot_training_curves(work_dir: Union[str, Path],
                         path: Union[str, Path]) -> Path:
    """Save the training loss against iterations, with each evaluation's box
    and mask AP on a second axis, as an image at ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    curves = training_curves(work_dir)
    fig, loss_axis = plt.subplots(figsize=(6, 3.5))
    loss_axis.plot(curves['step'], curves['loss'], color='tab:gray',
                   label='training loss')
    loss_axis.set_xlabel('iteration')
    loss_axis.set_ylabel('loss')
    ap_axis = loss_axis.twinx()
    for task, colour in (('bbox', 'tab:blue'), ('segm', 'tab:orange')):
        ap_axis.plot(curves['eval_step'], curves[task], 'o-', color=colour,
                     label=f'{task} AP')
    ap_axis.set_ylabel('COCO AP')
    ap_axis.set_ylim(0, 1)
    handles = [h for axis in (loss_axis, ap_axis)
               for h in axis.get_legend_handles_labels()[0]]
    loss_axis.legend(handles=handles, loc='center right')
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
