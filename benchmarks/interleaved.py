"""The training step of several ViT backbones timed in turn in one process,
so that a machine's changing load falls on all of them alike: one warm-up
step each, then ``--rounds`` rounds of one step per model; prints the median
per model and its ratio to the first.

    python benchmarks/interleaved.py [--size 512] [--dtype float32|bfloat16]
        [--rounds 3] [--patch-size 16] [--archs base eva02-b14 dinov3-b16]

A step is the forward pass of the backbone (``PlainViTPyramid`` of each
``arch`` preset, in ViTDet's layout) and the backward pass of the mean of
its outputs, on one thread; bfloat16 runs under CPU autocast.
"""
import argparse
import statistics
import time

import torch

from mmdet_vit_transfer.models.backbones import PlainViTPyramid


def step(model, x, dtype) -> float:
    """Seconds of one forward and backward pass."""
    start = time.perf_counter()
    with torch.autocast('cpu', dtype=torch.bfloat16,
                        enabled=dtype == 'bfloat16'):
        outputs = model(x)
    sum(out.float().mean() for out in outputs).backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--dtype', default='float32',
                        choices=['float32', 'bfloat16'])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--archs', nargs='+',
                        default=['base', 'eva02-b14', 'dinov3-b16'])
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {
        arch: PlainViTPyramid(arch=arch, img_size=args.size,
                              patch_size=args.patch_size).train()
        for arch in args.archs
    }
    x = torch.randn(1, 3, args.size, args.size)
    times = {arch: [] for arch in models}
    for round_ in range(args.rounds + 1):
        for arch, model in models.items():
            seconds = step(model, x, args.dtype)
            if round_:  # the first round warms up
                times[arch].append(seconds)
    first = statistics.median(times[args.archs[0]])
    print(f'training step, {args.size}x{args.size}, {args.dtype}, one '
          f'thread, median of {args.rounds}\n')
    print(f'| arch | seconds | vs {args.archs[0]} | runs |')
    print('|---|---|---|---|')
    for arch, values in times.items():
        median = statistics.median(values)
        print(f'| {arch} | {median:.2f} | {median / first:.2f} | '
              + ', '.join(f'{v:.2f}' for v in values) + ' |')


if __name__ == '__main__':
    main()
