"""Time and memory of the backbone per attention layout and input size.

The paper's ablation (section 4, ViT-L): all windowed, four global blocks
(the default), all global with activation checkpointing, all global.
Windowed attention costs grow linearly with the number of tokens, global
attention quadratically.

Memory is the process's peak resident set (``ru_maxrss``), so each layout
runs in a fresh process; within it, sizes run smallest first, so the peak
after a size is that size's peak. ``activation`` is that peak above the
resident memory before the first forward (model and input built).
"""
import math
import multiprocessing
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Union

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from mmengine.utils import track_iter_progress

#: The paper's layouts, from cheapest to dearest; see :func:`layout_kwargs`.
LAYOUTS = ('all windowed', '4 global', 'all global + checkpointing',
           'all global')
MODES = ('train', 'infer')
PATCH_SIZE = 16


def layout_kwargs(layout: str, depth: int) -> dict:
    """PlainViTPyramid arguments of an attention layout (outputs always
    after the last block of each quarter of the depth).

    Args:
        layout (str): one of ``LAYOUTS``.
        depth (int): number of blocks.
    """
    quarter_ends = [depth // 4 * (i + 1) - 1 for i in range(4)]
    kwargs = {
        'all windowed': dict(global_attn_indexes=[],
                             out_indices=quarter_ends),
        '4 global': dict(),
        'all global + checkpointing': dict(window_size=0, with_cp=True),
        'all global': dict(window_size=0),
    }
    if layout not in kwargs:
        raise ValueError(f'unknown layout {layout!r}; valid: {LAYOUTS}')
    return kwargs[layout]


def backbone_step(model, x, mode: str) -> None:
    """One training step (forward + backward) or one inference forward."""
    import torch
    if mode == 'train':
        model.train()
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()
        model.zero_grad(set_to_none=True)
    elif mode == 'infer':
        model.eval()
        with torch.no_grad():
            model(x)
    else:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')


def time_backbone(model, x, mode: str, repeats: int) -> float:
    """Best wall time (s) of ``repeats`` steps after one warm-up step."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        backbone_step(model, x, mode)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@dataclass
class AttentionCost:
    """One measurement.

    Args:
        layout (str): attention layout.
        mode (str): ``'train'`` or ``'infer'``.
        size (int): input side (square).
        tokens (int): tokens of the patch grid.
        seconds (float): best time of a step.
        peak_gb (float): process peak resident memory.
        activation_gb (float): peak above the memory before the first step.
    """
    layout: str
    mode: str
    size: int
    tokens: int
    seconds: float
    peak_gb: float
    activation_gb: float


def measure_layout(arch: Union[str, dict], layout: str, mode: str,
                   sizes: Sequence[int], repeats: int) -> List[dict]:
    """Measure one layout at every size, smallest first, in this process.

    Run it in a fresh process (:func:`measure_attention_costs` does) for
    the memory figures to be this layout's own.
    """
    import torch

    from mmdet_vit_transfer.models.backbones import PlainViTPyramid
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    baseline = None
    results = []
    for size in sorted(sizes):
        model = PlainViTPyramid(arch=arch, img_size=size,
                                **layout_kwargs(layout, _depth(arch)))
        model.init_weights()
        x = torch.randn(1, 3, size, size)
        if baseline is None:
            baseline = _peak_gb()
        seconds = time_backbone(model, x, mode, repeats)
        peak = _peak_gb()
        results.append(asdict(AttentionCost(
            layout=layout, mode=mode, size=size,
            tokens=(size // PATCH_SIZE)**2, seconds=seconds, peak_gb=peak,
            activation_gb=peak - baseline)))
        del model, x
    return results


def _depth(arch: Union[str, dict]) -> int:
    from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO
    if isinstance(arch, str):
        if arch not in ARCH_ZOO:
            raise ValueError(f'arch must be one of {sorted(ARCH_ZOO)} '
                             f'or a dict, got {arch!r}')
        return ARCH_ZOO[arch]['depth']
    return arch['depth']


def measure_attention_costs(arch: Union[str, dict],
                            sizes: Sequence[int],
                            layouts: Iterable[str] = LAYOUTS,
                            modes: Iterable[str] = ('train', ),
                            repeats: int = 1) -> List[AttentionCost]:
    """Every (layout, mode) in a fresh process, with a progress bar.

    Args:
        arch (str | dict): backbone size, as ``PlainViTPyramid``'s ``arch``.
        sizes: square input sides; multiples of the patch size (16).
        layouts: names from ``LAYOUTS``.
        modes: ``'train'`` (forward + backward) and/or ``'infer'``.
        repeats (int): timed steps per point (best kept), after a warm-up.
    """
    layouts, modes = list(layouts), list(modes)
    for layout in layouts:
        layout_kwargs(layout, _depth(arch))  # names a bad layout early
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    bad = [s for s in sizes if s < PATCH_SIZE or s % PATCH_SIZE]
    if bad or not sizes:
        raise ValueError(f'sizes must be positive multiples of '
                         f'{PATCH_SIZE}, got {list(sizes)}')
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    context = multiprocessing.get_context('spawn')
    results = []
    jobs = [(layout, mode) for layout in layouts for mode in modes]
    for layout, mode in track_iter_progress(jobs):
        # One task per process: its peak memory is this layout's own.
        with context.Pool(1, maxtasksperchild=1) as pool:
            rows = pool.apply(measure_layout,
                              (arch, layout, mode, list(sizes), repeats))
        results += [AttentionCost(**row) for row in rows]
    return results


def growth_exponent(costs: Sequence[AttentionCost], layout: str, mode: str,
                    attr: str = 'activation_gb') -> float:
    """Slope of ``attr`` against tokens on log-log axes between the two
    largest sizes: about 1 for windowed attention, up to 2 for global."""
    points = sorted((c.tokens, getattr(c, attr)) for c in costs
                    if c.layout == layout and c.mode == mode)
    if len(points) < 2:
        return math.nan
    (n1, v1), (n2, v2) = points[-2:]
    if v1 <= 0 or v2 <= 0:
        return math.nan
    return math.log(v2 / v1) / math.log(n2 / n1)


def costs_table(costs: Sequence[AttentionCost]) -> str:
    """Markdown: one row per layout and mode, time and activation memory per
    size, and their growth exponents over the two largest sizes."""
    sizes = sorted({c.size for c in costs})
    by_key: Dict[tuple, AttentionCost] = {(c.layout, c.mode, c.size): c
                                          for c in costs}
    header = ' | '.join(f'{s}px ({(s // PATCH_SIZE)**2} tok)' for s in sizes)
    lines = [
        'Time (s) / activation peak (GB) / process peak (GB) per step, '
        'batch 1; exponent: growth with the number of tokens over the '
        'two largest sizes (time, activation).', '',
        f'| layout | mode | {header} | exponent |',
        '|---' * (len(sizes) + 3) + '|'
    ]
    for layout, mode in dict.fromkeys((c.layout, c.mode) for c in costs):
        cells = []
        for size in sizes:
            c = by_key.get((layout, mode, size))
            cells.append('' if c is None else
                         f'{c.seconds:.3f} / {c.activation_gb:.3f} / '
                         f'{c.peak_gb:.2f}')
        exponents = (f"{growth_exponent(costs, layout, mode, 'seconds'):.2f}"
                     f', {growth_exponent(costs, layout, mode):.2f}')
        lines.append(f'| {layout} | {mode} | ' + ' | '.join(cells) +
                     f' | {exponents} |')
    return '\n'.join(lines) + '\n'


def plot_costs(costs: Sequence[AttentionCost], path: Union[str, Path],
               title: str = '') -> Path:
    """Time and activation memory against tokens (log-log), one line per
    layout and mode, with slope-1 and slope-2 guides."""
    fig = Figure(figsize=(10, 4), layout='constrained')
    axes = fig.subplots(1, 2)
    series = dict.fromkeys((c.layout, c.mode) for c in costs)
    for ax, attr, label in ((axes[0], 'seconds', 'time per step (s)'),
                            (axes[1], 'activation_gb',
                             'activation peak (GB)')):
        for layout, mode in series:
            points = sorted((c.tokens, getattr(c, attr)) for c in costs
                            if c.layout == layout and c.mode == mode)
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker='o', label=f'{layout} ({mode})')
        positive = [getattr(c, attr) for c in costs if getattr(c, attr) > 0]
        tokens = sorted({c.tokens for c in costs})
        if positive and len(tokens) > 1:
            anchor = min(positive)
            for slope, style in ((1, ':'), (2, '--')):
                ax.plot(tokens, [anchor * (n / tokens[0])**slope
                                 for n in tokens], 'k' + style, lw=0.8,
                        label=f'~ tokens^{slope}')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(tokens, [str(n) for n in tokens])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel('tokens')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which='both')
    axes[0].legend(fontsize='small')
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
