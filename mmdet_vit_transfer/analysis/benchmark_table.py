"""The benchmark's main table and convergence figure from finished runs.

As in the paper: box AP / mask AP per initialisation and model size at the
best fine-tuning schedule (chosen by box AP), with the paper's published
value beside it (:mod:`.paper_results`), every schedule with the best one
marked, and AP against fine-tuning epochs per initialisation. A protocol
or detector other than full fine-tuning of Mask R-CNN is a row of its own
(``mae (frozen)``, ``mae (cascade)``). Runs that differ only by their seed
are one cell: mean ± sample std and n (:mod:`.spread`), error bars in the
figure, and a † where a cell's box AP is ahead of the next one in its
column (main table) or row (every schedule) by more than the sum of their
standard deviations.
"""
import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from matplotlib.figure import Figure

from .paper_results import published
from .runs import (BenchmarkRun, find_run_dirs, init_key, read_run,
                   size_key, size_label, sort_runs, variant_key)
from .spread import Spread, beyond_spread, spread

CSV_FIELDS = ('init', 'size', 'epochs', 'box_ap', 'mask_ap', 'best',
              'work_dir', 'protocol', 'detector', 'seed')
#: Marks a cell ahead of the next best beyond their spread.
AHEAD = '†'
AHEAD_NOTE = (f'{AHEAD}: box AP ahead of the next best in its {{}} by more '
              'than the sum of their standard deviations (seeds, n > 1 '
              'each); closer differences are within the seed spread.')
Row = Tuple[str, str, str]  # init, protocol, detector


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


@dataclass(frozen=True)
class BenchmarkCell:
    """The runs of one experiment (init, size, schedule, protocol,
    detector) that differ only by their seed."""
    runs: Tuple[BenchmarkRun, ...]

    @property
    def row(self) -> Row:
        run = self.runs[0]
        return run.init, run.protocol, run.detector

    @property
    def size(self) -> str:
        return self.runs[0].size

    @property
    def epochs(self) -> int:
        return self.runs[0].epochs

    @property
    def box(self) -> Spread:
        return spread([r.box_ap for r in self.runs])

    @property
    def mask(self) -> Optional[Spread]:
        """None when a run did not evaluate masks."""
        values = [r.mask_ap for r in self.runs]
        return None if None in values else spread(values)


def benchmark_cells(runs: Iterable[BenchmarkRun]) -> List[BenchmarkCell]:
    """The runs grouped by experiment, in table order.

    Raises:
        ValueError: two runs of the same experiment and seed.
    """
    groups = defaultdict(list)
    for run in sort_runs(runs):
        group = groups[run.variant, run.init, run.size, run.epochs]
        for other in group:
            if other.seed == run.seed:
                seed = '' if run.seed is None else f' seed {run.seed}'
                raise ValueError(
                    f'two runs of {row_label(run.init, *run.variant)} '
                    f'{run.size_label} {run.epochs} epochs{seed}: '
                    f'{other.work_dir} and {run.work_dir}; pass one')
        group.append(run)
    return [BenchmarkCell(tuple(group)) for group in groups.values()]


def best_cells(cells: Iterable[BenchmarkCell]
               ) -> Dict[Tuple[Row, str], BenchmarkCell]:
    """The best schedule of each row and size: highest mean box AP, the
    shorter schedule on a tie."""
    best = {}
    for cell in cells:
        current = best.get((cell.row, cell.size))
        if current is None or (cell.box.mean, -cell.epochs) > (
                current.box.mean, -current.epochs):
            best[cell.row, cell.size] = cell
    return best


def ahead_of_the_rest(cells: Sequence[BenchmarkCell]
                      ) -> Optional[BenchmarkCell]:
    """The cell of highest mean box AP among ``cells`` if it is ahead of
    the next one beyond their spread (:func:`.spread.beyond_spread`),
    else None."""
    ranked = sorted(cells, key=lambda c: c.box.mean, reverse=True)
    if len(ranked) > 1 and beyond_spread(ranked[0].box, ranked[1].box):
        return ranked[0]
    return None


def row_label(init: str, protocol: str, detector: str) -> str:
    """``'mae'``, ``'mae (frozen)'``, ``'mae (frozen, cascade)'``."""
    variant = [v for v, default in ((protocol, 'full'),
                                    (detector, 'mask_rcnn')) if v != default]
    return init + (f' ({", ".join(variant)})' if variant else '')


def _ap(value: Optional[Spread]) -> str:
    return '-' if value is None else value.text()


def _cell(cell: BenchmarkCell) -> str:
    n = f' (n={len(cell.runs)})' if len(cell.runs) > 1 else ''
    return f'{_ap(cell.box)} / {_ap(cell.mask)}{n}'


def _published(init: str, size: str, epochs: Optional[int] = None) -> str:
    value = published(init, size, epochs)
    return '-' if value is None else f'{value[0]:.1f} / {value[1]:.1f}'


def _paper_row(row: Row) -> bool:
    """Whether the paper's values apply: full fine-tuning of Mask R-CNN."""
    return row[1:] == ('full', 'mask_rcnn')


def markdown_tables(runs: Sequence[BenchmarkRun]) -> str:
    """The main table (best schedule per row and size, and the paper's
    value beside it for sizes the paper has) and the table of every
    schedule (best in bold, the published value where there is one), box
    AP / mask AP in percent; a † where a cell is ahead beyond the seed
    spread (the note under each table says of what)."""
    cells = benchmark_cells(runs)
    best = best_cells(cells)
    rows = sorted({c.row for c in cells},
                  key=lambda r: (init_key(r[0]), variant_key(r[1:])))
    sizes = sorted({c.size for c in cells}, key=size_key)
    with_paper = {s for s in sizes
                  if any(published(r[0], s) for r in rows if _paper_row(r))}
    seeded = any(len(c.runs) > 1 for c in cells)
    marked = {ahead_of_the_rest([best[r, size] for r in rows
                                 if (r, size) in best]) for size in sizes}

    header = []
    for size in sizes:
        header += [size_label(size)] + (['paper'] if size in with_paper
                                         else [])
    lines = ['Box AP / mask AP (COCO, %) at the best fine-tuning schedule '
             '(epochs in parentheses)' + (
                 "; 'paper': the published value." if with_paper else '.') +
             (' Runs with other seeds: mean ± sample std (n runs).'
              if seeded else ''),
             '',
             '| initialisation | ' + ' | '.join(header) + ' |',
             '|---' * (len(header) + 1) + '|']
    for row in rows:
        entries = []
        for size in sizes:
            cell = best.get((row, size))
            entries.append(f'{_cell(cell)} ({cell.epochs} ep)' +
                           (f' {AHEAD}' if cell in marked else '')
                           if cell else '-')
            if size in with_paper:
                entries.append(_published(row[0], size)
                               if _paper_row(row) else '-')
        lines.append(f'| {row_label(*row)} | ' + ' | '.join(entries) + ' |')
    if seeded:
        lines += ['', AHEAD_NOTE.format('column')]

    schedules = sorted({c.epochs for c in cells})
    by_key = {(c.row, c.size, c.epochs): c for c in cells}
    lines += ['', 'Every schedule, box AP / mask AP (best in bold).', '',
              '| initialisation | size | ' + ' | '.join(
                  f'{e} ep' for e in schedules) + ' |',
              '|---' * (len(schedules) + 2) + '|']
    for row in rows:
        for size in sizes:
            if (row, size) not in best:
                continue
            in_row = [by_key[row, size, e] for e in schedules
                      if (row, size, e) in by_key]
            ahead = ahead_of_the_rest(in_row)
            entries = []
            for epochs in schedules:
                cell = by_key.get((row, size, epochs))
                if cell is None:
                    entries.append('')
                    continue
                text = _cell(cell)
                if cell is best[row, size]:
                    text = f'**{text}**'
                if cell is ahead:
                    text += f' {AHEAD}'
                if _paper_row(row) and published(row[0], size, epochs):
                    text += f' (paper {_published(row[0], size, epochs)})'
                entries.append(text)
            lines.append(f'| {row_label(*row)} | {size_label(size)} | ' +
                         ' | '.join(entries) + ' |')
    if seeded:
        lines += ['', AHEAD_NOTE.format('row')]
    return '\n'.join(lines) + '\n'


def write_csv(runs: Sequence[BenchmarkRun], path: Union[str, Path]) -> Path:
    """One row per run: ``init, size, epochs, box_ap, mask_ap, best,
    work_dir, protocol, detector, seed`` (AP in percent; mask_ap empty when
    not evaluated, seed when the run has none; best: its cell is the best
    schedule of its row and size)."""
    best = best_cells(benchmark_cells(runs))
    path = Path(path)
    with path.open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for run in sort_runs(runs):
            writer.writerow([
                run.init, run.size, run.epochs, f'{run.box_ap:.2f}',
                '' if run.mask_ap is None else f'{run.mask_ap:.2f}',
                int(run in best[(run.init, *run.variant), run.size].runs),
                str(run.work_dir), run.protocol, run.detector,
                '' if run.seed is None else run.seed
            ])
    return path


def plot_convergence(runs: Sequence[BenchmarkRun],
                     path: Union[str, Path]) -> Path:
    """AP against fine-tuning epochs, one line per row of the table.

    One column per model size; box AP on top, mask AP below (when any run
    evaluated masks). The best schedule of each line is starred; a point
    of several seeds is their mean, with the sample std as error bar.
    """
    cells = benchmark_cells(runs)
    best = best_cells(cells)
    sizes = sorted({c.size for c in cells}, key=size_key)
    has_mask = any(c.mask is not None for c in cells)
    metrics = [('box', 'box AP')] + ([('mask', 'mask AP')]
                                     if has_mask else [])
    lines = defaultdict(list)
    for cell in cells:
        lines[cell.size, cell.row].append(cell)

    fig = Figure(figsize=(4.5 * len(sizes), 3.5 * len(metrics)),
                 layout='constrained')
    axes = fig.subplots(len(metrics), len(sizes), squeeze=False)
    rows = sorted({c.row for c in cells},
                  key=lambda r: (init_key(r[0]), variant_key(r[1:])))
    colours = {row: f'C{i % 10}' for i, row in enumerate(rows)}
    for col, size in enumerate(sizes):
        for line, (attr, label) in enumerate(metrics):
            ax = axes[line][col]
            for row in rows:
                points = [(c.epochs, getattr(c, attr), c)
                          for c in lines.get((size, row), [])
                          if getattr(c, attr) is not None]
                if not points:
                    continue
                xs = [x for x, _, _ in points]
                ys = [value.mean for _, value, _ in points]
                errors = [value.std or 0.0 for _, value, _ in points]
                ax.errorbar(xs, ys, yerr=errors if any(errors) else None,
                            marker='o', capsize=3, color=colours[row],
                            label=row_label(*row))
                for x, y, (_, _, cell) in zip(xs, ys, points):
                    if best[row, size] is cell:
                        ax.plot(x, y, marker='*', markersize=14,
                                color=colours[row])
            epochs = sorted({c.epochs for c in cells if c.size == size})
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
        ValueError: no finished run, or two runs of one experiment and
            seed.
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
