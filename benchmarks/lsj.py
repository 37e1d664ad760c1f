"""Images per second of the training data pipeline, one thread per worker.

Three tables, each over ``--runs`` runs (printed one by one, then the mean):

``transform``
    Large-scale jitter alone: ``LargeScaleJitter`` against mmdet's
    ``RandomResize -> RandomCrop -> FilterAnnotations -> Pad`` chain, on
    results as the annotation loader leaves them: polygon masks
    (``LoadPolygonAnnotations``) and bitmap masks (mmdet's ``LoadAnnotations``,
    or any image with an RLE mask). Both end with ``PackDetInputs``.
``pipeline``
    The whole training pipeline from the image file to the packed sample:
    the one the configs run (``configs/_base_/datasets/coco_instance_lsj_1024.py``)
    against mmdet's stock LSJ pipeline (mmdet's
    ``configs/common/lsj-100e_coco-instance.py``),
    on a COCO-format set with polygon annotations and on the same set with
    every mask stored as RLE.
``targets``
    What the masks cost where the model uses them: mmdet's ``mask_target``
    (28x28 targets for 128 positive RoIs, Mask R-CNN's most per image) from
    the packed sample's polygon masks and from its bitmap masks, with the
    overlap of the two sets of targets.
``workers``
    The configured pipeline in a torch ``DataLoader`` with 1, 2 and 4
    workers (one thread each, as mmdet's ``opencv_num_threads=0`` and
    torch's worker default give), beside what one training GPU consumes.

Inputs are COCO-like: 640x480 JPEG images, 10 objects each with a
16-vertex polygon. OpenCV and torch run on one thread, as in a data-loader
worker. Prints markdown tables.

    python benchmarks/lsj.py [--tables transform pipeline targets workers]
        [--runs 3] [--images 32] [--seconds 10] [--size 1024]
"""
import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import mmdet
import numpy as np
import pycocotools.mask as mask_utils
import torch
from mmcv.transforms import RandomResize
from mmdet.datasets import CocoDataset
from mmdet.datasets.transforms import (FilterAnnotations, LoadAnnotations,
                                       PackDetInputs, Pad, RandomCrop, Resize)
from mmdet.structures.mask import mask_target
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

import mmdet_vit_transfer  # noqa: F401  (registers the transforms)
from mmdet_vit_transfer.datasets.transforms import (LargeScaleJitter,
                                                    LoadPolygonAnnotations)

REPO = Path(__file__).resolve().parents[1]
CONFIGURED = REPO / 'configs/_base_/datasets/coco_instance_lsj_1024.py'
STOCK = (Path(mmdet.__file__).parent /
         '.mim/configs/common/lsj-100e_coco-instance.py')
IMAGE_HW = (480, 640)
NUM_OBJECTS = 10

# Images per second one GPU's training step consumes: detectron2's ViTDet
# Mask R-CNN table (projects/ViTDet/README.md) gives the training time per
# iteration of a 64-image batch on 64 A100 GPUs, i.e. one image per GPU.
A100_TRAIN_SECONDS_PER_IMAGE = {'ViT-B': 0.314, 'ViT-L': 0.603}


def write_coco_like_set(root: Path, num_images: int, rle: bool,
                        seed: int = 0) -> Path:
    """JPEG images and an instances file; masks as polygons, or all as RLE
    (the same shapes). Returns the annotation file."""
    rng = np.random.default_rng(seed)
    h, w = IMAGE_HW
    (root / 'img').mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        # Smooth content compresses and decodes like a photograph.
        small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        name = f'{image_id:06d}.jpg'
        cv2.imwrite(str(root / 'img' / name), img)
        images.append(dict(id=image_id, file_name=name, height=h, width=w))
        for _ in range(NUM_OBJECTS):
            bw, bh = rng.uniform(16, w / 2), rng.uniform(16, h / 2)
            cx = rng.uniform(bw / 2, w - bw / 2)
            cy = rng.uniform(bh / 2, h - bh / 2)
            angles = np.sort(rng.uniform(0, 2 * np.pi, 16))
            radius = rng.uniform(0.4, 1.0, 16)
            xy = np.stack([cx + np.cos(angles) * radius * bw / 2,
                           cy + np.sin(angles) * radius * bh / 2], axis=1)
            polygon = [xy.reshape(-1).round(2).tolist()]
            x1, y1 = xy.min(0)
            x2, y2 = xy.max(0)
            segmentation = polygon
            if rle:
                segmentation = mask_utils.merge(
                    mask_utils.frPyObjects(polygon, h, w))
                segmentation['counts'] = segmentation['counts'].decode()
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id,
                category_id=int(rng.integers(1, 81)), iscrowd=0,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                area=float((x2 - x1) * (y2 - y1)),
                segmentation=segmentation))
    ann_file = root / 'instances.json'
    categories = [dict(id=i, name=f'class{i}') for i in range(1, 81)]
    ann_file.write_text(json.dumps(dict(
        images=images, annotations=annotations, categories=categories)))
    return ann_file


def data_infos(ann_file: Path) -> List[dict]:
    """The data infos mmdet's ``CocoDataset`` hands to the pipeline."""
    classes = tuple(f'class{i}' for i in range(1, 81))
    dataset = CocoDataset(ann_file=str(ann_file), metainfo=dict(
        classes=classes), data_prefix=dict(img=str(ann_file.parent / 'img')),
        pipeline=[], filter_cfg=None)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert all(len(info['instances']) == NUM_OBJECTS for info in infos)
    return infos


def train_pipeline(config: str, size: int) -> list:
    """A config's ``train_pipeline`` with the output size set to ``size``."""
    transforms = copy.deepcopy(Config.fromfile(str(config)).train_pipeline)
    for t in transforms:
        for key in ('scale', 'crop_size'):
            if key in t:
                t[key] = (size, size)
    return transforms


def images_per_second(run_one: Callable[[int, dict], object],
                      inputs: List[dict], seconds: float) -> float:
    """Throughput over whole passes through ``inputs``; input copies are not
    timed. ``run_one(seed, results)`` runs the pipeline once."""
    elapsed, done = 0.0, 0
    while elapsed < seconds:
        for seed, results in enumerate(inputs):
            results = copy.deepcopy(results)
            np.random.seed(seed)
            start = time.perf_counter()
            run_one(seed, results)
            elapsed += time.perf_counter() - start
            done += 1
    return done / elapsed


def chained(transforms: list) -> Callable[[int, dict], object]:
    def run_one(seed, results):
        for t in transforms:
            results = t(results)
        return results
    return run_one


def transform_rows(infos: Dict[str, List[dict]], size: int) -> dict:
    """Rows of the ``transform`` table: name -> (run_one, inputs)."""
    scale = (size, size)
    chain = [
        RandomResize(scale=scale, ratio_range=(0.1, 2.0), resize_type=Resize,
                     keep_ratio=True),
        RandomCrop(crop_size=scale, crop_type='absolute_range',
                   recompute_bbox=True, allow_negative_crop=True),
        FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False),
        Pad(size=scale),
        PackDetInputs(),
    ]
    ours = [LargeScaleJitter(scale=scale), PackDetInputs()]
    loaders = {'polygon': LoadPolygonAnnotations(with_bbox=True,
                                                 with_mask=True),
               'bitmap': LoadAnnotations(with_bbox=True, with_mask=True)}
    rows = {}
    for masks, loader in loaders.items():
        loaded = []
        for i, info in enumerate(infos['polygon']):
            img = np.random.default_rng(i).integers(0, 256, (*IMAGE_HW, 3),
                                                    dtype=np.uint8)
            loaded.append(loader(dict(copy.deepcopy(info), img=img,
                                      img_shape=IMAGE_HW,
                                      ori_shape=IMAGE_HW)))
        rows[f'{masks} | mmdet chain'] = (chained(chain), loaded)
        rows[f'{masks} | LargeScaleJitter'] = (chained(ours), loaded)
    return rows


def pipeline_rows(infos: Dict[str, List[dict]], size: int) -> dict:
    """Rows of the ``pipeline`` table: name -> (run_one, inputs)."""
    pipelines = {'mmdet stock LSJ': Compose(train_pipeline(STOCK, size)),
                 'configured': Compose(train_pipeline(CONFIGURED, size))}
    return {f'{masks} | {name}': (lambda seed, r, p=pipe: p(r), infos[masks])
            for masks in ('polygon', 'RLE')
            for name, pipe in pipelines.items()}


def run_table(title: str, rows: dict, runs: int, seconds: float) -> None:
    rates = {name: [] for name in rows}
    for _ in range(runs):  # alternate rows within each run
        for name, (run_one, inputs) in rows.items():
            rates[name].append(images_per_second(run_one, inputs, seconds))
    print(f'\n### {title}\n')
    print('| masks | pipeline | ' + ' | '.join(
        f'run {i + 1}' for i in range(runs)) + ' | mean img/s | vs mmdet |')
    print('|---|---|' + '---|' * (runs + 2))
    baseline = None
    for name, values in rates.items():
        mean = float(np.mean(values))
        if 'mmdet' in name:
            baseline = mean
        cells = ' | '.join(f'{v:.1f}' for v in values)
        print(f'| {name} | {cells} | {mean:.1f} | {mean / baseline:.2f}x |')


def targets_table(infos: List[dict], size: int, runs: int,
                  num_rois: int = 128) -> None:
    """Milliseconds per image of mmdet's ``mask_target`` from polygon and
    from bitmap masks of the same packed samples, and the targets' IoU."""
    loaders = {'polygon': 'LoadPolygonAnnotations',
               'bitmap': 'LoadAnnotations'}
    pipelines = {}
    for masks, load_type in loaders.items():
        transforms = train_pipeline(CONFIGURED, size)
        transforms[1]['type'] = load_type
        pipelines[masks] = Compose(transforms)
    samples = {masks: [] for masks in loaders}
    for seed, info in enumerate(infos):
        packed = {}
        for masks, pipeline in pipelines.items():
            np.random.seed(seed)
            packed[masks] = pipeline(
                copy.deepcopy(info))['data_samples'].gt_instances
        # Same draws; keep the images where both kept the same objects.
        if len(packed['polygon']) and (len(packed['polygon']) ==
                                       len(packed['bitmap'])):
            for masks, gt in packed.items():
                samples[masks].append(gt)
    rng = np.random.default_rng(0)
    rois = []
    for gt in samples['polygon']:
        # Positive RoIs: the ground-truth boxes jittered by up to 10%.
        ids = rng.integers(0, len(gt), num_rois)
        boxes = gt.bboxes.tensor[ids].numpy()
        wh = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
        boxes = boxes + rng.uniform(-0.1, 0.1, boxes.shape) * wh
        rois.append((torch.from_numpy(boxes.astype(np.float32)),
                     torch.from_numpy(ids)))
    cfg = ConfigDict(mask_size=28)
    times = {masks: [] for masks in loaders}
    targets = {}
    for _ in range(runs):
        for masks in loaders:
            start = time.perf_counter()
            targets[masks] = [
                mask_target([boxes], [ids], [gt.masks], cfg) > 0.5
                for gt, (boxes, ids) in zip(samples[masks], rois)]
            times[masks].append(1e3 * (time.perf_counter() - start) /
                                len(rois))
    both = torch.cat(targets['polygon']) & torch.cat(targets['bitmap'])
    either = torch.cat(targets['polygon']) | torch.cat(targets['bitmap'])
    iou = (both.sum() / either.sum()).item()
    print(f'\n### Mask targets, {num_rois} RoIs per image, 28x28\n')
    print('| masks | ' + ' | '.join(f'run {i + 1}' for i in range(runs)) +
          ' | mean ms/image |')
    print('|---|' + '---|' * (runs + 1))
    for masks, values in times.items():
        print(f'| {masks} | ' + ' | '.join(f'{v:.1f}' for v in values) +
              f' | {np.mean(values):.1f} |')
    print(f'\nIoU of the polygon and bitmap targets: {iou:.3f}')


class PipelineDataset(torch.utils.data.Dataset):

    def __init__(self, infos: List[dict], pipeline: list):
        self.infos, self.pipeline = infos, Compose(pipeline)

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, index: int) -> dict:
        return self.pipeline(copy.deepcopy(self.infos[index]))


def one_thread_worker(worker_id: int) -> None:
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    np.random.seed(worker_id)


def workers_table(infos: List[dict], size: int, runs: int,
                  num_samples: int) -> None:
    dataset = PipelineDataset(infos, train_pipeline(CONFIGURED, size))
    counts = (1, 2, 4)
    rates = {n: [] for n in counts}
    for _ in range(runs):
        for n in counts:
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=1, num_workers=n,
                collate_fn=pseudo_collate, worker_init_fn=one_thread_worker,
                sampler=torch.utils.data.RandomSampler(
                    dataset, replacement=True, num_samples=num_samples + 4 * n),
                prefetch_factor=2, persistent_workers=False)
            batches = iter(loader)
            for _ in range(2 * n):  # workers started and warm
                next(batches)
            start = time.perf_counter()
            done = sum(1 for _ in batches)
            rates[n].append(done / (time.perf_counter() - start))
    print(f'\n### Configured pipeline, polygon masks, {os.cpu_count()} '
          'CPU cores, one thread per worker\n')
    print('| workers | ' + ' | '.join(f'run {i + 1}' for i in range(runs)) +
          ' | mean img/s | ' + ' | '.join(
              f'{model} A100 needs' for model in A100_TRAIN_SECONDS_PER_IMAGE)
          + ' |')
    print('|---|' + '---|' * (runs + 1 + len(A100_TRAIN_SECONDS_PER_IMAGE)))
    for n, values in rates.items():
        need = ' | '.join(f'{1 / s:.2f} img/s'
                          for s in A100_TRAIN_SECONDS_PER_IMAGE.values())
        print(f'| {n} | ' + ' | '.join(f'{v:.1f}' for v in values) +
              f' | {np.mean(values):.1f} | {need} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tables', nargs='+',
                        default=['transform', 'pipeline', 'targets',
                                 'workers'],
                        choices=['transform', 'pipeline', 'targets',
                                 'workers'])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--images', type=int, default=32,
                        help='distinct input images, each with its own seed')
    parser.add_argument('--seconds', type=float, default=10,
                        help='timed seconds per row and run (at least one '
                        'pass)')
    parser.add_argument('--samples', type=int, default=200,
                        help='images drawn per worker-count run')
    parser.add_argument('--size', type=int, default=1024)
    args = parser.parse_args()
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    init_default_scope('mmdet')

    with tempfile.TemporaryDirectory() as tmp:
        infos = {
            'polygon': data_infos(write_coco_like_set(
                Path(tmp, 'polygon'), args.images, rle=False)),
            'RLE': data_infos(write_coco_like_set(
                Path(tmp, 'rle'), args.images, rle=True)),
        }
        print(f'{args.images} JPEG images 640x480 with {NUM_OBJECTS} '
              f'objects each, output {args.size}x{args.size}, scale range '
              '(0.1, 2.0); images per second, one thread')
        if 'transform' in args.tables:
            run_table('Large-scale jitter alone (+ PackDetInputs)',
                      transform_rows(infos, args.size), args.runs,
                      args.seconds)
        if 'pipeline' in args.tables:
            run_table('Whole training pipeline, file to packed sample',
                      pipeline_rows(infos, args.size), args.runs,
                      args.seconds)
        if 'targets' in args.tables:
            targets_table(infos['polygon'], args.size, args.runs)
        if 'workers' in args.tables:
            workers_table(infos['polygon'], args.size, args.runs,
                          args.samples)


if __name__ == '__main__':
    main()
