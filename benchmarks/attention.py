"""Backbone time and memory per attention layout against input size.

The paper's ablation: all windowed, four global blocks (default), all
global with activation checkpointing, all global. Each layout runs in a
fresh process (peak resident memory is per process), sizes smallest first.
Prints a markdown table and writes it, the raw numbers and a PNG of time and
memory against the number of tokens to --out-dir.

    python benchmarks/attention.py [--arch base] [--sizes 256 512 768 1024]
        [--layouts ...] [--modes train] [--repeats 1] [--out-dir DIR]

ViT-B at 1024 takes about a minute per training step on a 2-core CPU; a
quick look: --arch '{"embed_dims": 192, "depth": 4, "num_heads": 3}'
--sizes 224 448 672.
"""
import argparse
import json
from dataclasses import asdict
from pathlib import Path

from mmdet_vit_transfer.analysis.attention_cost import (
    LAYOUTS, MODES, costs_table, measure_attention_costs, plot_costs)


def parse_arch(value: str):
    """``'base'``/``'large'``/``'huge'`` or a JSON dict of embed_dims,
    depth and num_heads."""
    return json.loads(value) if value.lstrip().startswith('{') else value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', type=parse_arch, default='base',
                        help="'base', 'large', 'huge' or a JSON dict "
                        '(default: base)')
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[256, 512, 768, 1024],
                        help='square input sides, multiples of 16')
    parser.add_argument('--layouts', nargs='+', default=list(LAYOUTS),
                        choices=LAYOUTS)
    parser.add_argument('--modes', nargs='+', default=['train'],
                        choices=MODES)
    parser.add_argument('--repeats', type=int, default=1,
                        help='timed steps per point after a warm-up, best '
                        'kept (default: 1)')
    parser.add_argument('--out-dir', default='benchmark_attention')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    costs = measure_attention_costs(args.arch, args.sizes, args.layouts,
                                    args.modes, args.repeats)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f'PlainViTPyramid {args.arch}, batch 1, fp32, CPU'
    table = f'{title}\n\n{costs_table(costs)}'
    (out_dir / 'attention.md').write_text(table)
    (out_dir / 'attention.json').write_text(
        json.dumps(dict(arch=args.arch, repeats=args.repeats,
                        costs=[asdict(c) for c in costs]), indent=2))
    plot_costs(costs, out_dir / 'attention.png', title)
    print('\n' + table)
    print(f'wrote {out_dir}/attention.{{md,json,png}}')
    return costs


if __name__ == '__main__':
    main()
