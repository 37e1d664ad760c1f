"""LoadPolygonAnnotations: polygons where every mask is a polygon, mmdet's
own bitmaps where an image has an RLE mask, and the configured training
pipeline giving the mask targets that bitmaps give."""
import copy

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.structures.mask import BitmapMasks, PolygonMasks, mask_target
from mmengine.config import Config, ConfigDict

import mmdet_vit_transfer  # noqa: F401  (registers the transforms)
from mmdet_vit_transfer.datasets.transforms import LoadPolygonAnnotations

H, W = 60, 80


def instance(polygon=None, rle=None, label=0, crowd=False):
    mask = polygon if polygon is not None else rle
    xs = np.asarray(polygon[0][0::2]) if polygon else np.array([0, W])
    ys = np.asarray(polygon[0][1::2]) if polygon else np.array([0, H])
    return dict(bbox=[xs.min(), ys.min(), xs.max(), ys.max()],
                bbox_label=label, mask=mask, ignore_flag=int(crowd))


def results_for(instances):
    return dict(ori_shape=(H, W), img_shape=(H, W), height=H, width=W,
                instances=copy.deepcopy(instances))


def triangle(x, y, size):
    return [[x, y, x + size, y, x + size / 2, y + size]]


def crowd_rle():
    bitmap = np.zeros((H, W), np.uint8, order='F')
    bitmap[5:25, 40:70] = 1
    rle = mask_utils.encode(bitmap)
    rle['counts'] = rle['counts'].decode()
    return rle


def load(transform_type, instances, **kwargs):
    transform = TRANSFORMS.build(dict(type=transform_type, with_bbox=True,
                                      with_mask=True, **kwargs))
    return transform(results_for(instances))


def test_polygon_images_keep_polygons_that_rasterise_as_mmdet():
    instances = [instance(triangle(5, 5, 30)),
                 instance([[40, 10, 70, 12, 65, 50, 45, 40],
                           [10, 45, 20, 45, 15, 55]], label=2)]
    ours = load('LoadPolygonAnnotations', instances)
    stock = load('LoadAnnotations', instances)  # poly2mask=True
    assert isinstance(ours['gt_masks'], PolygonMasks)
    assert isinstance(stock['gt_masks'], BitmapMasks)
    np.testing.assert_array_equal(ours['gt_masks'].to_ndarray(),
                                  stock['gt_masks'].to_ndarray())
    np.testing.assert_array_equal(ours['gt_ignore_flags'],
                                  stock['gt_ignore_flags'])
    np.testing.assert_array_equal(ours['gt_bboxes'].tensor,
                                  stock['gt_bboxes'].tensor)


def test_an_rle_mask_gives_the_image_mmdets_bitmaps():
    instances = [instance(triangle(5, 5, 30)),
                 instance(rle=crowd_rle(), crowd=True)]
    ours = load('LoadPolygonAnnotations', instances)
    stock = load('LoadAnnotations', instances)
    assert isinstance(ours['gt_masks'], BitmapMasks)
    np.testing.assert_array_equal(ours['gt_masks'].masks,
                                  stock['gt_masks'].masks)
    assert ours['gt_masks'].masks[1].sum() == 20 * 30
    np.testing.assert_array_equal(ours['gt_ignore_flags'], [False, True])
    # mmdet's own polygon mode would drop the RLE mask's pixels.
    dropped = load('LoadAnnotations', instances, poly2mask=False)
    assert dropped['gt_masks'].to_ndarray()[1].sum() == 0


def test_invalid_polygons_are_ignored_as_mmdet_ignores_them():
    instances = [instance(triangle(5, 5, 30)),
                 instance([[10, 10, 20, 20]]),  # two points: no polygon
                 instance([[10, 10, 20, 20, 30]])]  # odd coordinate count
    ours = load('LoadPolygonAnnotations', instances)
    stock = load('LoadAnnotations', instances)
    np.testing.assert_array_equal(ours['gt_ignore_flags'],
                                  [False, True, True])
    np.testing.assert_array_equal(ours['gt_ignore_flags'],
                                  stock['gt_ignore_flags'])
    assert len(ours['gt_masks']) == 3


def test_poly2mask_is_refused_with_the_reason():
    with pytest.raises(ValueError, match='poly2mask per image'):
        LoadPolygonAnnotations(with_mask=True, poly2mask=False)


def test_image_without_instances():
    out = load('LoadPolygonAnnotations', [])
    assert isinstance(out['gt_masks'], PolygonMasks)
    assert len(out['gt_masks']) == 0


def config_train_pipeline(load_type):
    cfg = Config.fromfile('configs/_base_/datasets/coco_instance_lsj_1024.py')
    pipeline = copy.deepcopy(cfg.train_pipeline)
    assert pipeline[1]['type'] == 'LoadPolygonAnnotations'
    pipeline[1] = ConfigDict(pipeline[1], type=load_type)
    # From the loaded annotations on: the image comes from memory.
    return [TRANSFORMS.build(t) for t in pipeline[1:]]


def test_configured_pipeline_gives_the_mask_targets_of_bitmaps():
    """Same seed through the LSJ config's training pipeline with polygons
    and with mmdet's bitmaps: the same boxes and labels, and mask targets
    (mmdet's ``mask_target`` for 28x28 RoIs on the packed boxes) that agree
    to the rasterisation of a polygon against a resampled bitmap."""
    rng = np.random.default_rng(0)
    h, w = 480, 640
    instances = []
    for label in range(8):
        cx, cy = rng.uniform(80, w - 80), rng.uniform(80, h - 80)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
        radius = rng.uniform(30, 70, 12)
        xy = np.stack([cx + np.cos(angles) * radius,
                       cy + np.sin(angles) * radius], 1)
        instances.append(dict(
            bbox=[*xy.min(0), *xy.max(0)], bbox_label=label % 3,
            mask=[xy.reshape(-1).tolist()], ignore_flag=0))
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    packed = {}
    for load_type in ('LoadPolygonAnnotations', 'LoadAnnotations'):
        results = dict(img=img.copy(), img_shape=(h, w), ori_shape=(h, w),
                       height=h, width=w, instances=copy.deepcopy(instances))
        for seed in range(5):
            np.random.seed(seed)
            out = copy.deepcopy(results)
            for t in config_train_pipeline(load_type):
                out = t(out)
            if len(out['data_samples'].gt_instances) >= 2:
                break
        packed[load_type] = out
    polygons = packed['LoadPolygonAnnotations']['data_samples'].gt_instances
    bitmaps = packed['LoadAnnotations']['data_samples'].gt_instances
    assert isinstance(polygons.masks, PolygonMasks)
    assert isinstance(bitmaps.masks, BitmapMasks)
    np.testing.assert_array_equal(polygons.labels, bitmaps.labels)
    # Boxes recomputed from the cropped masks: vertices against pixels
    # resized by up to 2x.
    box_iou = bbox_overlaps(polygons.bboxes.tensor, bitmaps.bboxes.tensor,
                            is_aligned=True)
    assert box_iou.min() > 0.95, box_iou
    assert len(polygons) >= 2
    rois = polygons.bboxes.tensor
    cfg = ConfigDict(mask_size=28)
    ids = torch.arange(len(rois))
    targets = {kind: mask_target([rois], [ids], [inst.masks], cfg) > 0.5
               for kind, inst in (('polygon', polygons),
                                  ('bitmap', bitmaps))}
    overlap = (targets['polygon'] & targets['bitmap']).sum((1, 2)).float()
    union = (targets['polygon'] | targets['bitmap']).sum((1, 2)).float()
    assert (overlap / union).min() > 0.9
