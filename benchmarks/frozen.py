"""Train-step time, peak memory and trained parameters of a ViT backbone
(ViT-B by default) fine-tuned in full, half frozen and frozen, at 1024x1024,
batch 1, fp32.

A step is what training does at the backbone: the backbone and the simple
adapters (ViTSimpleAdapterNeck, trained in every row) forward, a loss over
their maps, backward, and an AdamW step over the trained parameters. Rows:
``full`` (``frozen_stages=-1``), ``half`` (the embeddings and the first half
of the blocks, ``frozen_stages=depth // 2``) and ``frozen``
(``frozen_stages='all'``: the backbone runs under ``torch.no_grad`` in eval
mode). Each row runs in a fresh process so that its peak resident memory
(``ru_maxrss``) is its own. Prints a markdown table, the machine's load
average before and after.

    python benchmarks/frozen.py [--size 1024] [--repeats 2] [--arch base]
        [--protocols full half frozen]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO

PROTOCOLS = ('full', 'half', 'frozen')


def frozen_stages(protocol: str, depth: int):
    """The backbone's ``frozen_stages`` for a row."""
    return {'full': -1, 'half': depth // 2, 'frozen': 'all'}[protocol]


def measure(protocol: str, arch: str, size: int, repeats: int) -> dict:
    """Best time of ``repeats`` train steps after a warm-up step, the
    process's peak memory after them, and the trained parameters."""
    import torch

    from mmdet_vit_transfer.models.backbones import PlainViTPyramid
    from mmdet_vit_transfer.models.necks import ViTSimpleAdapterNeck
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    backbone = PlainViTPyramid(
        arch=arch, img_size=size, drop_path_rate=0.1,
        frozen_stages=frozen_stages(protocol, ARCH_ZOO[arch]['depth']))
    backbone.init_weights()
    neck = ViTSimpleAdapterNeck(in_channels=backbone.embed_dims)
    model = torch.nn.ModuleDict(dict(backbone=backbone, neck=neck)).train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-4, weight_decay=0.1)
    x = torch.randn(1, 3, size, size)

    times = []
    for _ in range(repeats + 1):  # the first one warms up
        start = time.perf_counter()
        loss = sum(o.mean() for o in neck(backbone(x)))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return dict(
        seconds=min(times[1:]),
        peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        backbone_trained=sum(p.numel() for p in backbone.parameters()
                             if p.requires_grad),
        backbone_total=sum(p.numel() for p in backbone.parameters()),
        neck=sum(p.numel() for p in neck.parameters()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--arch', default='base',
                        help="a PlainViTPyramid arch preset (default 'base')")
    parser.add_argument('--protocols', nargs='+', default=list(PROTOCOLS),
                        choices=PROTOCOLS)
    parser.add_argument('--one', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.arch, args.size,
                                 args.repeats)))
        return

    print(f'{args.arch} backbone + simple adapters, {args.size}x{args.size},'
          f' batch 1, fp32, AdamW, best of {args.repeats} timed steps; load '
          f'average before: {os.getloadavg()[0]:.1f}\n')
    print('| protocol | frozen_stages | seconds | peak memory (GB) '
          '| trained backbone parameters | trained adapter parameters |')
    print('|---|---|---|---|---|---|', flush=True)
    for protocol in args.protocols:
        out = subprocess.run(
            [sys.executable, __file__, '--one', protocol, '--arch', args.arch,
             '--size', str(args.size), '--repeats', str(args.repeats)],
            check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        stages = frozen_stages(protocol, ARCH_ZOO[args.arch]['depth'])
        print(f"| {protocol} | {stages!r} | {r['seconds']:.1f} "
              f"| {r['peak_gb']:.2f} | {r['backbone_trained'] / 1e6:.1f} M "
              f"of {r['backbone_total'] / 1e6:.1f} M "
              f"| {r['neck'] / 1e6:.1f} M |", flush=True)
    print(f'\nload average after: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
