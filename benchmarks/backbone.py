"""Time, FLOP/s, utilisation and peak memory of ViT backbones (ViT-B by
default, or any ``arch`` presets) at 1024x1024, batch 1.

Each (layout, mode, dtype) runs in a fresh process so that its peak resident
memory (``ru_maxrss``) is its own. FLOPs are counted with mmengine's fvcore
counters (``2 x`` multiply-adds; a training step counts ``3 x`` the forward
pass) and utilisation divides the achieved FLOP/s by the FLOP/s of a 4096^3
matrix product measured in the same process and dtype. Prints a markdown
table. Layouts and the step are those of ``benchmarks/attention.py``. With
several ``--archs``, each (layout, mode, dtype) times them one after the
other, and ``vs first`` is each one's time over the first arch's, measured
minutes apart on the same machine.

    python benchmarks/backbone.py [--size 1024] [--repeats 2]
        [--layouts '4 global' ...] [--modes train infer]
        [--dtypes float32 bfloat16] [--attn-backend auto]
        [--archs base ...] [--patch-size P] [--window-size W]

E.g. the rotary families next to MAE's ViT-B, in ViTDet's layout (EVA-02's
patch 14 resampled to 16): ``--archs base eva02-b14 dinov3-b16
--patch-size 16``; DINOv2's ViT-B/14 at its native patch 14 (1036 px: a
74x74 grid that windows of 37 tile): ``--archs dinov2-b14 --size 1036
--window-size 37``.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

from mmdet_vit_transfer.analysis.attention_cost import (LAYOUTS,
                                                        layout_kwargs,
                                                        time_backbone)


def matmul_flops_per_second(dtype, n: int = 4096, repeats: int = 3) -> float:
    """Best FLOP/s of an ``n^3`` matrix product in ``dtype``."""
    import torch
    a, b = (torch.randn(n, n).to(dtype) for _ in range(2))
    times = []
    for _ in range(repeats + 1):  # the first one warms up
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times[1:])


def forward_flops(model, x) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass."""
    import torch

    from mmdet_vit_transfer.analysis.complexity import count_flops
    model.eval()
    with torch.no_grad():
        return 2.0 * count_flops(model, (x, )).total()


def build(arch: str, size: int, layout: str, attn_backend: str,
          patch_size=None, window_size=None):
    """The backbone of one row: ``arch`` at input ``size`` in ``layout``,
    optionally at another patch or window size."""
    from mmdet_vit_transfer.models.backbones import PlainViTPyramid
    from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO
    kwargs = layout_kwargs(layout, ARCH_ZOO[arch]['depth'])
    if patch_size:
        kwargs['patch_size'] = patch_size
    if window_size and kwargs.get('window_size') != 0:
        kwargs['window_size'] = window_size
    return PlainViTPyramid(arch=arch, img_size=size,
                           attn_backend=attn_backend, **kwargs)


def measure(layout: str, mode: str, size: int, repeats: int,
            dtype_name: str, attn_backend: str = 'auto', arch: str = 'base',
            patch_size=None, window_size=None) -> dict:
    import torch
    torch.set_flush_denormal(True)
    dtype = getattr(torch, dtype_name)
    model = build(arch, size, layout, attn_backend, patch_size, window_size)
    model.init_weights()
    x = torch.randn(1, 3, size, size)

    with torch.autocast('cpu', dtype=dtype, enabled=dtype != torch.float32):
        seconds = time_backbone(model, x, mode, repeats)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    # Counted after the peak is read: tracing the model takes memory too.
    flops = forward_flops(model, x) * (3 if mode == 'train' else 1)
    peak_flops = matmul_flops_per_second(dtype)
    return dict(seconds=seconds, peak_gb=peak_gb,
                gflops=flops / seconds / 1e9,
                matmul_gflops=peak_flops / 1e9,
                utilisation=flops / seconds / peak_flops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--layouts', nargs='+', default=['4 global'],
                        choices=LAYOUTS)
    parser.add_argument('--modes', nargs='+', default=['train', 'infer'],
                        choices=['train', 'infer'])
    parser.add_argument('--dtypes', nargs='+', default=['float32'],
                        choices=['float32', 'bfloat16'],
                        help='bfloat16 runs under CPU autocast')
    parser.add_argument('--attn-backend', default='auto',
                        choices=['auto', 'sdpa', 'cpu_fused'],
                        help="the backbone's attn_backend (auto: the fused "
                        'CPU kernel)')
    parser.add_argument('--archs', nargs='+', default=['base'],
                        help="PlainViTPyramid's arch presets (base: ViT-B)")
    parser.add_argument('--patch-size', type=int,
                        help="another patch size than the preset's")
    parser.add_argument('--window-size', type=int,
                        help='another window size than 14')
    parser.add_argument('--one', nargs=4,
                        metavar=('ARCH', 'LAYOUT', 'MODE', 'DTYPE'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        arch, layout, mode, dtype = args.one
        print(json.dumps(measure(layout, mode, args.size, args.repeats,
                                 dtype, args.attn_backend, arch,
                                 args.patch_size, args.window_size)))
        return

    import torch
    for arch in args.archs:
        with torch.device('meta'):
            model = build(arch, args.size, args.layouts[0],
                          args.attn_backend, args.patch_size,
                          args.window_size)
        windows = sorted({b.window_size for b in model.blocks} - {0})
        print(f'{arch}: {args.size}x{args.size}, batch 1, patch '
              f'{model.patch_size} ({model.grid_hw[0]}x{model.grid_hw[1]} '
              f'grid, windows {windows or "none"}), rel_pos '
              f'{model.rel_pos!r}, rope {model.rope_kind!r}')
        del model
    print(f"attn_backend={args.attn_backend!r}, best of {args.repeats} "
          'timed runs\n')
    extra = [
        option for name, value in (('--patch-size', args.patch_size),
                                   ('--window-size', args.window_size))
        if value for option in (name, str(value))]
    print('| arch | layout | mode | dtype | seconds | vs first | GFLOP/s '
          '| matmul GFLOP/s | utilisation | peak memory (GB) |')
    print('|---|---|---|---|---|---|---|---|---|---|', flush=True)
    for layout in args.layouts:
        for mode in args.modes:
            for dtype in args.dtypes:
                first = None
                for arch in args.archs:
                    out = subprocess.run(
                        [sys.executable, __file__, '--one', arch, layout,
                         mode, dtype, '--size', str(args.size),
                         '--repeats', str(args.repeats), '--attn-backend',
                         args.attn_backend, *extra],
                        check=True, capture_output=True, text=True).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    first = first or r['seconds']
                    print(f"| {arch} | {layout} | {mode} | {dtype} "
                          f"| {r['seconds']:.1f} "
                          f"| {r['seconds'] / first:.2f} "
                          f"| {r['gflops']:.0f} | {r['matmul_gflops']:.0f} "
                          f"| {r['utilisation']:.2f} | {r['peak_gb']:.2f} |",
                          flush=True)

if __name__ == '__main__':
    main()
