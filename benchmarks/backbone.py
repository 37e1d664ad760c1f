"""Time and peak memory of the ViT-B backbone at 1024x1024, batch 1.

Each (layout, mode) runs in a fresh process so that its peak resident memory
(``ru_maxrss``) is its own. Prints a markdown table.

    python benchmarks/backbone.py [--size 1024] [--repeats 2] [--layouts ...]
"""
import argparse
import json
import resource
import subprocess
import sys
import time

LAYOUTS = {
    'window + 4 global (default)': dict(),
    'all windowed': dict(global_attn_indexes=[], out_indices=[2, 5, 8, 11]),
    'all global + checkpointing': dict(window_size=0, with_cp=True),
}


def measure(layout: str, mode: str, size: int, repeats: int) -> dict:
    import torch

    from mmdet_vit_transfer.models.backbones import PlainViTPyramid
    model = PlainViTPyramid(arch='base', img_size=size, **LAYOUTS[layout])
    model.init_weights()
    x = torch.randn(1, 3, size, size)
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        start = time.perf_counter()
        if mode == 'train':
            model.train()
            outs = model(x)
            sum(o.float().mean() for o in outs).backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad():
                model(x)
        times.append(time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(seconds=min(times[1:]), peak_gb=peak_kb / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--layouts', nargs='+', default=list(LAYOUTS),
                        choices=list(LAYOUTS))
    parser.add_argument('--one', nargs=2, metavar=('LAYOUT', 'MODE'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.size, args.repeats)))
        return

    print(f'ViT-B backbone, {args.size}x{args.size}, batch 1, fp32, '
          f'{args.repeats} timed runs (best)\n')
    print('| layout | train step (s) | train peak (GB) | inference (s) '
          '| inference peak (GB) |')
    print('|---|---|---|---|---|')
    for layout in args.layouts:
        row = [layout]
        for mode in ('train', 'infer'):
            out = subprocess.run(
                [sys.executable, __file__, '--one', layout, mode, '--size',
                 str(args.size), '--repeats', str(args.repeats)],
                check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            row += [f"{result['seconds']:.1f}", f"{result['peak_gb']:.2f}"]
        print('| ' + ' | '.join(row) + ' |', flush=True)


if __name__ == '__main__':
    main()
