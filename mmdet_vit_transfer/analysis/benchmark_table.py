"""The benchmark's main table and convergence figure from finished runs.

As in the paper: box AP / mask AP per initialisation and model size at the
best fine-tuning schedule (chosen by box AP), with the paper's published
value beside it (:mod:`.paper_results`), every schedule with the best one
marked, and AP against fine-tuning epochs per initialisation.
"""
import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from matplotlib.figure import Figure

from .paper_results import published
from .runs import (BenchmarkRun, find_run_dirs, init_key, read_run,
                   size_key, size_label, sort_runs)

CSV_FIELDS = ('init', 'size', 'epochs', 'box_ap', 'mask_ap', 'best',
              'work_dir')


@dataclass
class BenchmarkSummary:
    """What :func:`summarize_benchmark` read and wrote.

    Args:
        runs (list[BenchmarkRun]): finished runs, in table order.
        skipped (list[tuple]): ``(work_dir, reason)`` of runs left out.
        files (dict): ``'markdown'``, ``'csv'``, ``'plot'`` -> written path.
    """
    runs: List[BenchmarkRun]
    skipped: List[Tuple[Path, str]] = field(default_factory=list)
    files: Dict[str, Path] = field(default_factory=dict)


def best_runs(runs: Iterable[BenchmarkRun]
              ) -> Dict[Tuple[str, str], BenchmarkRun]:
    """The best schedule of each (init, size): highest box AP, the shorter
    schedule on a tie.

    Raises:
        ValueError: two runs of the same experiment (init, size, epochs).
    """
    seen = {}
    best = {}
    for run in runs:
        key = (run.init, run.size, run.epochs)
        if key in seen:
            raise ValueError(
                f'two runs of {run.init} {run.size_label} {run.epochs} '
                f'epochs: {seen[key].work_dir} and {run.work_dir}; pass one')
        seen[key] = run
        current = best.get(key[:2])
        if current is None or (run.box_ap, -run.epochs) > (current.box_ap,
                                                           -current.epochs):
            best[key[:2]] = run
    return best


def _ap(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.1f}'


def _cell(run: BenchmarkRun) -> str:
    return f'{_ap(run.box_ap)} / {_ap(run.mask_ap)}'


def _published(init: str, size: str, epochs: Optional[int] = None) -> str:
    value = published(init, size, epochs)
    return '-' if value is None else f'{value[0]:.1f} / {value[1]:.1f}'


def markdown_tables(runs: Sequence[BenchmarkRun]) -> str:
    """The main table (best schedule per init and size, and the paper's
    value beside it for sizes the paper has) and the table of every
    schedule (best in bold, the published value where there is one), box
    AP / mask AP in percent."""
    runs = sort_runs(runs)
    best = best_runs(runs)
    inits = sorted({r.init for r in runs}, key=init_key)
    sizes = sorted({r.size for r in runs}, key=size_key)
    with_paper = {s for s in sizes
                  if any(published(i, s) for i in inits)}

    header = []
    for size in sizes:
        header += [size_label(size)] + (['paper'] if size in with_paper
                                         else [])
    lines = ['Box AP / mask AP (COCO, %) at the best fine-tuning schedule '
             '(epochs in parentheses)' + (
                 "; 'paper': the published value." if with_paper else '.'),
             '',
             '| initialisation | ' + ' | '.join(header) + ' |',
             '|---' * (len(header) + 1) + '|']
    for init in inits:
        cells = []
        for size in sizes:
            run = best.get((init, size))
            cells.append(f'{_cell(run)} ({run.epochs} ep)' if run else '-')
            if size in with_paper:
                cells.append(_published(init, size))
        lines.append(f'| {init} | ' + ' | '.join(cells) + ' |')

    schedules = sorted({r.epochs for r in runs})
    by_key = {(r.init, r.size, r.epochs): r for r in runs}
    lines += ['', 'Every schedule, box AP / mask AP (best in bold).', '',
              '| initialisation | size | ' + ' | '.join(
                  f'{e} ep' for e in schedules) + ' |',
              '|---' * (len(schedules) + 2) + '|']
    for init in inits:
        for size in sizes:
            if (init, size) not in best:
                continue
            cells = []
            for epochs in schedules:
                run = by_key.get((init, size, epochs))
                if run is None:
                    cells.append('')
                    continue
                cell = _cell(run)
                if run is best[init, size]:
                    cell = f'**{cell}**'
                if published(init, size, epochs):
                    cell += f' (paper {_published(init, size, epochs)})'
                cells.append(cell)
            lines.append(f'| {init} | {size_label(size)} | ' +
                         ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(runs: Sequence[BenchmarkRun], path: Union[str, Path]) -> Path:
    """One row per run: ``init, size, epochs, box_ap, mask_ap, best,
    work_dir`` (AP in percent; mask_ap empty when not evaluated)."""
    runs = sort_runs(runs)
    best = best_runs(runs)
    path = Path(path)
    with path.open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for run in runs:
            writer.writerow([
                run.init, run.size, run.epochs, f'{run.box_ap:.2f}',
                '' if run.mask_ap is None else f'{run.mask_ap:.2f}',
                int(best[run.init, run.size] is run),
                str(run.work_dir)
            ])
    return path


def plot_convergence(runs: Sequence[BenchmarkRun],
                     path: Union[str, Path]) -> Path:
    """AP against fine-tuning epochs, one line per initialisation.

    One column per model size; box AP on top, mask AP below (when any run
    evaluated masks). The best schedule of each line is starred.
    """
    runs = sort_runs(runs)
    best = best_runs(runs)
    sizes = sorted({r.size for r in runs}, key=size_key)
    has_mask = any(r.mask_ap is not None for r in runs)
    metrics = [('box_ap', 'box AP')] + ([('mask_ap', 'mask AP')]
                                        if has_mask else [])
    lines = defaultdict(list)
    for run in runs:
        lines[run.size, run.init].append(run)

    fig = Figure(figsize=(4.5 * len(sizes), 3.5 * len(metrics)),
                 layout='constrained')
    axes = fig.subplots(len(metrics), len(sizes), squeeze=False)
    inits = sorted({r.init for r in runs}, key=init_key)
    colours = {init: f'C{i % 10}' for i, init in enumerate(inits)}
    for col, size in enumerate(sizes):
        for row, (attr, label) in enumerate(metrics):
            ax = axes[row][col]
            for init in inits:
                points = [(r.epochs, getattr(r, attr), r)
                          for r in lines.get((size, init), [])
                          if getattr(r, attr) is not None]
                if not points:
                    continue
                xs, ys, _ = zip(*points)
                ax.plot(xs, ys, marker='o', color=colours[init], label=init)
                for x, y, run in points:
                    if best[init, size] is run:
                        ax.plot(x, y, marker='*', markersize=14,
                                color=colours[init])
            epochs = sorted({r.epochs for r in runs if r.size == size})
            ax.set_xticks(epochs)
            ax.set_xlabel('fine-tuning epochs')
            ax.set_ylabel(f'{label} (%)')
            ax.set_title(f'{size_label(size)}, {label}')
            ax.grid(alpha=0.3)
            ax.legend(fontsize='small')
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def summarize_benchmark(work_dirs: Iterable[Union[str, Path]],
                        out_dir: Union[str, Path]) -> BenchmarkSummary:
    """Read finished runs, write the tables and the convergence figure.

    Runs that are unfinished or not named like a benchmark experiment are
    left out and listed in ``skipped`` with the reason.

    Args:
        work_dirs: run work directories, or directories holding them.
        out_dir (str | Path): where ``benchmark.md``, ``benchmark.csv`` and
            ``convergence.png`` go (created if needed).

    Raises:
        FileNotFoundError: a path holds no run.
        ValueError: no finished run, or two runs of one experiment.
    """
    runs, skipped = [], []
    for work_dir in find_run_dirs(work_dirs):
        try:
            runs.append(read_run(work_dir))
        except (ValueError, FileNotFoundError) as err:
            skipped.append((work_dir, str(err)))
    if not runs:
        reasons = '; '.join(reason for _, reason in skipped)
        raise ValueError(f'no finished benchmark run to summarize: {reasons}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = BenchmarkSummary(runs=sort_runs(runs), skipped=skipped)
    markdown = out_dir / 'benchmark.md'
    markdown.write_text(markdown_tables(summary.runs))
    summary.files = dict(
        markdown=markdown,
        csv=write_csv(summary.runs, out_dir / 'benchmark.csv'),
        plot=plot_convergence(summary.runs, out_dir / 'convergence.png'))
    return summary
