"""The benchmark's results, written to ``<bench>/summary/`` from its
finished runs: the paper's table and the AP-against-epochs figure
(:func:`~mmdet_vit_transfer.analysis.summarize_benchmark`, for the runs
named as :data:`~mmdet_vit_transfer.analysis.runs.RUN_NAME` says), a
table of every finished run by name (``runs.md``: iTPN, direct pre-training, any config), and the
TIDE breakdown of their final detections (``errors.{md,json,png}``)."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..analysis.benchmark_table import summarize_benchmark
from ..analysis.runs import parse_run_name
from ..utils.run_results import last_coco_metrics
from .workdir import BenchmarkDir


def _ap(metrics: Dict, task: str) -> str:
    value = metrics.get(f'coco/{task}_mAP')
    return '-' if value is None else f'{100 * value:.1f}'


def write_results(bench: BenchmarkDir, runs: Sequence[str],
                  error_runs: Optional[Sequence[str]] = None
                  ) -> Dict[str, Path]:
    """Write the reports of the runs among ``runs`` that finished.

    Args:
        bench (BenchmarkDir): the benchmark.
        runs (list[str]): run names.
        error_runs (list[str], optional): the runs whose errors are
            analysed (default: every finished run).

    Returns:
        dict: report name -> path (``runs``, and ``markdown``, ``csv``,
        ``plot`` for grid runs, ``errors`` / ``errors_plot`` for TIDE).
    """
    finished = [name for name in runs if bench.evaluated(name)]
    if not finished:
        return {}
    out = bench.summary
    out.mkdir(parents=True, exist_ok=True)
    lines = ['| run | epochs | box AP | mask AP |', '|---|---|---|---|']
    for name in finished:
        metrics = last_coco_metrics(bench.work_dir(name))
        lines.append(f"| {name} | {metrics['step']} | {_ap(metrics, 'bbox')}"
                     f" | {_ap(metrics, 'segm')} |")
    files = {'runs': out / 'runs.md'}
    files['runs'].write_text('\n'.join(lines) + '\n')

    grid = [bench.work_dir(n) for n in finished if _is_grid_name(n)]
    if grid:
        files.update(summarize_benchmark(grid, out).files)
    files.update(_error_analysis(bench, [
        name for name in finished if error_runs is None or name in error_runs
    ]))
    return files


def _is_grid_name(name: str) -> bool:
    try:
        parse_run_name(name)
    except ValueError:
        return False
    return True


def _error_analysis(bench: BenchmarkDir, runs: List[str]) -> Dict[str, Path]:
    """TIDE errors (box, delta AP50) of the runs evaluated on the same
    annotations as the first one."""
    from ..analysis.error_analysis import analyze_errors
    by_ann_file = {}
    for name in runs:
        results = bench.work_dir(name) / 'results.bbox.json'
        evaluator = bench.stage_config(name).get('val_evaluator') or {}
        if results.is_file() and 'ann_file' in evaluator:
            by_ann_file.setdefault(evaluator['ann_file'], []).append(
                (name, results))
    if not by_ann_file:
        return {}
    ann_file, entries = next(iter(by_ann_file.items()))
    names, results = zip(*entries)
    analyze_errors(results, ann_file, bench.summary, task='bbox',
                   names=names)
    return dict(errors=bench.summary / 'errors.md',
                errors_plot=bench.summary / 'errors.png')
