"""Images per second of large-scale jitter: LargeScaleJitter against mmdet's
RandomResize -> RandomCrop -> FilterAnnotations -> Pad chain.

COCO-like inputs: 640x480 images with 10 polygon objects each; both
pipelines end with the same PackDetInputs, and both draw the same random
scales and crop offsets (same numpy seed per image; the one-pass window may
start up to one resized pixel earlier). Like a data-loader worker (mmdet's
default ``opencv_num_threads=0``), OpenCV and torch run on one thread.
Prints a markdown table.

    python benchmarks/lsj.py [--images 32] [--seconds 20] [--size 1024]
"""
import argparse
import copy
import time

import cv2
import numpy as np
import torch
from mmcv.transforms import RandomResize
from mmdet.datasets.transforms import (FilterAnnotations, PackDetInputs, Pad,
                                       RandomCrop, Resize)
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import PolygonMasks

from mmdet_vit_transfer.datasets.transforms import LargeScaleJitter


def coco_like_results(rng: np.random.Generator, h: int = 480, w: int = 640,
                      num_objects: int = 10) -> dict:
    """A result dict as LoadImageFromFile + LoadAnnotations leave it."""
    polygons, boxes = [], []
    for _ in range(num_objects):
        bw, bh = rng.uniform(16, w / 2), rng.uniform(16, h / 2)
        cx, cy = rng.uniform(bw / 2, w - bw / 2), rng.uniform(bh / 2, h - bh / 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 16))
        radius = rng.uniform(0.4, 1.0, 16)
        xy = np.stack([cx + np.cos(angles) * radius * bw / 2,
                       cy + np.sin(angles) * radius * bh / 2], axis=1)
        polygons.append([xy.reshape(-1)])
        boxes.append([*xy.min(0), *xy.max(0)])
    return dict(
        img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        gt_bboxes=HorizontalBoxes(np.array(boxes, np.float32)),
        gt_bboxes_labels=rng.integers(0, 80, num_objects),
        gt_ignore_flags=np.zeros(num_objects, bool),
        gt_masks=PolygonMasks(polygons, h, w))


def pipelines(size: int) -> dict:
    scale = (size, size)
    chain = [
        RandomResize(scale=scale, ratio_range=(0.1, 2.0), resize_type=Resize,
                     keep_ratio=True),
        RandomCrop(crop_size=scale, crop_type='absolute_range',
                   recompute_bbox=True, allow_negative_crop=True),
        FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False),
        Pad(size=scale),
    ]
    return {
        'mmdet RandomResize + RandomCrop + FilterAnnotations + Pad': chain,
        'LargeScaleJitter': [LargeScaleJitter(scale=scale)],
    }


def images_per_second(transforms: list, inputs: list, seconds: float) -> float:
    """Throughput over whole passes through ``inputs``; input copies are not
    timed."""
    pack = PackDetInputs()
    elapsed, done = 0.0, 0
    while elapsed < seconds:
        for seed, results in enumerate(inputs):
            results = copy.deepcopy(results)
            np.random.seed(seed)
            start = time.perf_counter()
            for t in transforms:
                results = t(results)
            pack(results)
            elapsed += time.perf_counter() - start
            done += 1
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=32,
                        help='distinct input images, each with its own seed')
    parser.add_argument('--seconds', type=float, default=20,
                        help='timed seconds per pipeline (at least one pass)')
    parser.add_argument('--size', type=int, default=1024)
    args = parser.parse_args()
    cv2.setNumThreads(0)
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    inputs = [coco_like_results(rng) for _ in range(args.images)]
    rates = {
        name: images_per_second(transforms, inputs, args.seconds)
        for name, transforms in pipelines(args.size).items()
    }
    baseline = next(iter(rates.values()))
    print(f'{args.images} images 640x480 with 10 polygons, output '
          f'{args.size}x{args.size}, ratio range (0.1, 2.0), then '
          f'PackDetInputs; 1 thread\n')
    print('| transform | images/s | speed-up |')
    print('|---|---|---|')
    for name, rate in rates.items():
        print(f'| {name} | {rate:.1f} | {rate / baseline:.2f}x |')


if __name__ == '__main__':
    main()
