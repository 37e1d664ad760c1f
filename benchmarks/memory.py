"""Peak memory of one Mask R-CNN training step per backbone size and
precision / checkpointing setting, on this machine's CPU.

Each (size, setting, input side) runs in a fresh process: the detector of
the MAE ViT-B / ViT-L config (ViT-H: the ViT-L config with the 'huge' arch
and its neck widths), random weights, one image with 10 objects (boxes and
masks), and one training step (forward, backward, AdamW step) through the
optimizer wrapper that the configs build. The peak is the process's peak
resident memory above its resident memory before the detector is built, so
it counts weights, gradients, AdamW's two states and activations. Settings:

* ``fp32``;
* ``bf16``: ``--amp`` on a CPU (``CPUBFloat16AmpOptimWrapper``: backbone and
  neck under bfloat16 autocast, heads in float32);
* ``fp32 + with_cp`` / ``bf16 + with_cp``: the same with activation
  checkpointing of every backbone block (``model.backbone.with_cp=True``).

Prints a markdown table with each setting's ratio to ``bf16``, the setting
closest to the fp16 mixed precision of published GPU figures.

    python benchmarks/memory.py [--sizes b l h] [--sides 512]
        [--settings fp32 bf16 'fp32 + with_cp' 'bf16 + with_cp']
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = dict(b='configs/mae_vitb_maskrcnn_100e.py',
               l='configs/mae_vitl_maskrcnn_100e.py',
               h='configs/mae_vitl_maskrcnn_100e.py')
#: ViT-H: 1280 dims, 32 blocks, global blocks 7, 15, 23, 31 (the default
#: quarter ends of PlainViTPyramid).
HUGE_DIMS = 1280
SETTINGS = ('fp32', 'bf16', 'fp32 + with_cp', 'bf16 + with_cp')
NUM_OBJECTS = 10


def resident_gb() -> float:
    """Current resident memory of this process (Linux)."""
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**30


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def detector_config(size: str, side: int, with_cp: bool):
    """The config of one backbone size at input ``side``, random init."""
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIGS[size])
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    backbone.img_size = side
    backbone.with_cp = with_cp
    if size == 'h':
        backbone.arch = 'huge'
        adapter, fpn = cfg.model.neck
        adapter.in_channels = HUGE_DIMS
        fpn.in_channels = [HUGE_DIMS] * 4
    cfg.model.data_preprocessor.batch_augments[0].size = (side, side)
    return cfg


def fake_batch(side: int, seed: int = 0) -> dict:
    """One ``side`` x ``side`` image with ``NUM_OBJECTS`` boxes and masks."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, side * 0.7, size=(NUM_OBJECTS, 2))
    wh = rng.uniform(side * 0.05, side * 0.3, size=(NUM_OBJECTS, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    masks = np.zeros((NUM_OBJECTS, side, side), dtype=np.uint8)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
        mask[y1:y2, x1:x2] = 1
    sample = DetDataSample(metainfo=dict(
        img_shape=(side, side), ori_shape=(side, side),
        pad_shape=(side, side), scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(
        bboxes=torch.from_numpy(boxes),
        labels=torch.from_numpy(rng.integers(0, 80, NUM_OBJECTS)),
        masks=BitmapMasks(masks, side, side))
    image = torch.from_numpy(
        rng.integers(0, 256, (3, side, side), dtype=np.uint8))
    return dict(inputs=[image], data_samples=[sample])


def measure(size: str, side: int, setting: str) -> dict:
    """Peak memory (GB) of one training step, in this process."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    import mmdet_vit_transfer  # noqa: F401
    from mmdet.registry import MODELS
    from mmdet_vit_transfer.engine.optimizers.amp import \
        select_amp_optim_wrapper
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    init_default_scope('mmdet')
    batch = fake_batch(side)
    cfg = detector_config(size, side, 'with_cp' in setting)
    baseline = resident_gb()
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    wrapper_cfg = cfg.optim_wrapper.to_dict()
    if setting.startswith('bf16'):
        wrapper_cfg['type'] = select_amp_optim_wrapper('AmpOptimWrapper')
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    start = time.perf_counter()
    model.train_step(batch, optim_wrapper)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    return dict(peak_gb=peak_gb() - baseline, seconds=seconds,
                params_m=params / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=['b', 'l', 'h'],
                        choices=sorted(CONFIGS))
    parser.add_argument('--sides', nargs='+', type=int, default=[512],
                        help='input sides (square)')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS),
                        choices=SETTINGS)
    parser.add_argument('--one', nargs=3, metavar=('SIZE', 'SIDE', 'SETTING'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, side, setting = args.one
        print(json.dumps(measure(size, int(side), setting)))
        return

    print('Mask R-CNN training step, batch 1, random weights, peak resident '
          'memory above the process before the detector is built (CPU)\n')
    print('| backbone | input | setting | parameters (M) | peak (GB) '
          '| ratio to bf16 | step (s) |')
    print('|---|---|---|---|---|---|---|', flush=True)
    for size in args.sizes:
        for side in args.sides:
            rows = {}
            for setting in args.settings:
                out = subprocess.run(
                    [sys.executable, __file__, '--one', size, str(side),
                     setting], check=True, capture_output=True,
                    text=True).stdout
                rows[setting] = json.loads(out.strip().splitlines()[-1])
            reference = rows.get('bf16', {}).get('peak_gb')
            for setting, r in rows.items():
                ratio = f"{r['peak_gb'] / reference:.2f}" if reference \
                    else '-'
                print(f"| ViT-{size.upper()} | {side} | {setting} "
                      f"| {r['params_m']:.0f} | {r['peak_gb']:.2f} | {ratio} "
                      f"| {r['seconds']:.1f} |", flush=True)


if __name__ == '__main__':
    main()
