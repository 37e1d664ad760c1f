"""Where a Mask R-CNN with a plain ViT spends its time on this machine.

Two tables:

* ``--infer``: one image through the ViT-B Mask R-CNN at 1024x1024 (fp32,
  random weights, ``score_thr=0`` so that the mask head sees its 100
  detections as with a trained model), split into backbone, adapters + FPN,
  RPN head, RoI heads (feature extraction + box and mask heads) and
  post-processing (proposal and box NMS, box decoding, mask pasting: the
  rest of the time).
* ``--toy-train``: a training step of the toy config (batch 4 at 256 px,
  weights from ``--checkpoint`` if given, since late in training more RoIs
  are positive), once with mmdet's ``SingleRoIExtractor`` (mmcv's CPU
  kernel) and once with ``FusedRoIExtractor``; the RoI extraction share is
  its forward + backward on the inputs captured from the step, divided by
  the step time.

    python benchmarks/detector.py --infer
    python benchmarks/detector.py --toy-train [--checkpoint CKPT]
        [--sampling-ratio 0]
"""
import argparse
import copy
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

REPO_CONFIGS = 'configs'


def best_time(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def build_detector(cfg: Config):
    import mmdet_vit_transfer  # noqa: F401
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


class ModuleTimer:
    """Wall time spent inside the forward of named submodules."""

    def __init__(self, modules: Dict[str, torch.nn.Module]):
        self.seconds: Dict[str, float] = defaultdict(float)
        self._starts: Dict[str, float] = {}
        for name, module in modules.items():
            module.register_forward_pre_hook(self._pre(name))
            module.register_forward_hook(self._post(name))

    def _pre(self, name):

        def hook(module, args):
            self._starts[name] = time.perf_counter()

        return hook

    def _post(self, name):

        def hook(module, args, output):
            self.seconds[name] += time.perf_counter() - self._starts[name]

        return hook


def infer_breakdown(size: int, repeats: int) -> None:
    from mmdet.structures import DetDataSample
    cfg = Config.fromfile(
        f'{REPO_CONFIGS}/_base_/models/mask_rcnn_plain_vit_b.py')
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    model = build_detector(cfg).eval()
    neck_adapter, fpn = model.neck
    roi = model.roi_head
    timer = ModuleTimer({
        'backbone': model.backbone,
        'adapters + FPN': model.neck,
        'RPN head': model.rpn_head,
        'RoI extraction': roi.bbox_roi_extractor,
        'box head': roi.bbox_head,
        'mask RoI extraction': roi.mask_roi_extractor,
        'mask head': roi.mask_head,
    })
    image = torch.randn(1, 3, size, size)
    sample = DetDataSample(metainfo=dict(
        img_shape=(size, size), ori_shape=(size, size),
        scale_factor=(1.0, 1.0), batch_input_shape=(size, size)))

    def run():
        with torch.no_grad():
            model.predict(image, [copy.deepcopy(sample)])

    run()  # warm-up
    total = 0.0
    timer.seconds.clear()
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        total += time.perf_counter() - start
    seconds = {k: v / repeats for k, v in timer.seconds.items()}
    total /= repeats
    rows = [
        ('backbone', seconds['backbone']),
        ('adapters + FPN', seconds['adapters + FPN']),
        ('RPN head', seconds['RPN head']),
        ('RoI heads', sum(seconds[k] for k in (
            'RoI extraction', 'box head', 'mask RoI extraction',
            'mask head'))),
    ]
    rows.append(('post-processing', total - sum(s for _, s in rows)))
    print(f'ViT-B Mask R-CNN inference, {size}x{size}, batch 1, fp32, '
          f'mean of {repeats}\n')
    print('| part | seconds | share |')
    print('|---|---|---|')
    for name, sec in rows:
        print(f'| {name} | {sec:.2f} | {sec / total:.0%} |')
    print(f'| total | {total:.2f} | 100% |')
    print(f'\nEverything but the backbone: '
          f'{1 - seconds["backbone"] / total:.0%}')


def toy_batches(cfg: Config, count: int) -> List[dict]:
    from mmdet.registry import DATASETS
    from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
    import os.path as osp
    root = cfg.train_dataloader.dataset.data_root
    if not osp.isdir(root):
        make_toy_coco(root)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = cfg.train_dataloader.batch_size
    return [
        pseudo_collate([dataset[i * batch + j] for j in range(batch)])
        for i in range(count)
    ]


def toy_train_breakdown(checkpoint: str, repeats: int,
                        sampling_ratio: int) -> None:
    from mmengine.runner import load_checkpoint
    cfg = Config.fromfile(f'{REPO_CONFIGS}/toy_vit_tiny_maskrcnn.py')
    if sampling_ratio >= 0:
        for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
            cfg.model.roi_head[key].roi_layer.sampling_ratio = sampling_ratio
    torch.manual_seed(0)
    batches = toy_batches(cfg, repeats + 1)
    ratio = cfg.model.roi_head.bbox_roi_extractor.roi_layer.sampling_ratio
    print(f'Toy Mask R-CNN training step (batch '
          f'{cfg.train_dataloader.batch_size}, 256 px, RoIAlign '
          f'sampling_ratio={ratio}), mean of {repeats}\n')
    print('| RoI extractor | step (s) | RoI extraction fwd+bwd (s) | share |')
    print('|---|---|---|---|')
    for extractor in ('SingleRoIExtractor', 'FusedRoIExtractor'):
        variant = copy.deepcopy(cfg)
        for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
            variant.model.roi_head[key].type = extractor
        model = build_detector(variant)
        if checkpoint:
            load_checkpoint(model, checkpoint, map_location='cpu',
                            logger='silent')
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
        captured = []

        def capture(module, args, output):
            feats, rois = args[0], args[1]
            captured.append((module, [f.detach() for f in feats],
                             rois.detach()))

        roi = model.roi_head
        handles = [
            m.register_forward_hook(capture)
            for m in (roi.bbox_roi_extractor, roi.mask_roi_extractor)
        ]

        def step(batch):
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        step(batches[0])  # warm-up
        captured.clear()
        start = time.perf_counter()
        for batch in batches[1:]:
            step(batch)
        step_time = (time.perf_counter() - start) / repeats
        for h in handles:
            h.remove()

        def extract_all():
            for module, feats, rois in captured:
                feats = [f.requires_grad_() for f in feats]
                out = module(tuple(feats), rois)
                out.backward(torch.ones_like(out))

        extract_time = best_time(extract_all, 2) / repeats
        print(f'| {extractor} | {step_time:.3f} | {extract_time:.3f} | '
              f'{extract_time / step_time:.0%} |', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--infer', action='store_true')
    parser.add_argument('--toy-train', action='store_true')
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--checkpoint', default='',
                        help='toy detector weights for --toy-train')
    parser.add_argument('--sampling-ratio', type=int, default=-1,
                        help='RoIAlign sampling ratio for --toy-train '
                        "(default: the toy config's 2; 0 is mmdet's)")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    if args.toy_train:
        toy_train_breakdown(args.checkpoint, args.repeats,
                            args.sampling_ratio)
    if args.infer:
        infer_breakdown(args.size, args.repeats)
    if not (args.infer or args.toy_train):
        parser.error('choose --infer and/or --toy-train')


if __name__ == '__main__':
    main()
