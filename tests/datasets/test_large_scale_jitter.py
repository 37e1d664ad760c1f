import copy

import cv2

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import shapely
from scipy.stats import ks_2samp
from mmcv.transforms import RandomResize
from mmdet.datasets.transforms import (FilterAnnotations, PackDetInputs, Pad,
                                       RandomCrop, Resize)
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from mmdet_vit_transfer.datasets.transforms import LargeScaleJitter
from mmdet_vit_transfer.datasets.transforms.large_scale_jitter import (
    RESAMPLING_MARGIN, crop_polygons, nearest_source_indices, plan_axis,
    rescaled_shape)


# ---------------------------------------------------------------- inputs
def smooth_image(rng, h, w):
    """A textured but smooth uint8 image: bilinear resamplers agree on it up
    to their rounding, unlike on white noise."""
    coarse = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(float)
    ys = np.linspace(0, coarse.shape[0] - 1.001, h)
    xs = np.linspace(0, coarse.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = ((1 - fy) * (1 - fx) * coarse[y0][:, x0] +
           (1 - fy) * fx * coarse[y0][:, x0 + 1] +
           fy * (1 - fx) * coarse[y0 + 1][:, x0] +
           fy * fx * coarse[y0 + 1][:, x0 + 1])
    return img.round().astype(np.uint8)


def random_polygon(rng, x1, y1, x2, y2, num_vertices=8):
    """A star-shaped polygon inside the box, flat ``[x0, y0, x1, y1, ...]``."""
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    angles = np.sort(rng.uniform(0, 2 * np.pi, num_vertices))
    radius = rng.uniform(0.3, 1.0, num_vertices)
    xs = cx + np.cos(angles) * radius * (x2 - x1) / 2
    ys = cy + np.sin(angles) * radius * (y2 - y1) / 2
    return np.stack([xs, ys], axis=1).reshape(-1)


def make_results(img, boxes, masks, labels=None, ignore=None):
    """A result dict as LoadImageFromFile + LoadAnnotations leave it."""
    n = len(boxes)
    return dict(
        img=img,
        img_shape=img.shape[:2],
        ori_shape=img.shape[:2],
        gt_bboxes=HorizontalBoxes(np.asarray(boxes, np.float32).reshape(-1, 4)),
        gt_bboxes_labels=np.arange(n, dtype=np.int64)
        if labels is None else labels,
        gt_ignore_flags=np.zeros(n, dtype=bool) if ignore is None else ignore,
        gt_masks=masks)


def coco_like(rng, h, w, num_objects, mask_type='polygon'):
    """An image with ``num_objects`` polygon objects (boxes from the
    polygons, as COCO's), optionally rasterised to bitmaps."""
    polys, boxes = [], []
    for _ in range(num_objects):
        bw, bh = rng.uniform(4, w / 2), rng.uniform(4, h / 2)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        poly = random_polygon(rng, x1, y1, x1 + bw, y1 + bh)
        polys.append([poly])
        xy = poly.reshape(-1, 2)
        boxes.append([*xy.min(0), *xy.max(0)])
    masks = PolygonMasks(polys, h, w)
    if mask_type == 'bitmap':
        masks = BitmapMasks(masks.to_ndarray(), h, w)
    ignore = rng.random(num_objects) < 0.2
    return make_results(smooth_image(rng, h, w), boxes, masks, ignore=ignore)


def mmdet_chain(scale, ratio_range, crop_type='absolute_range', **resize):
    """mmdet's LSJ chain; empty images are kept, as LargeScaleJitter does."""
    return [
        RandomResize(scale=scale, ratio_range=ratio_range,
                     resize_type=Resize, keep_ratio=True, **resize),
        RandomCrop(crop_size=scale, crop_type=crop_type, recompute_bbox=True,
                   allow_negative_crop=True),
        FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False),
        Pad(size=scale),
    ]


def run(transforms, results, seed):
    np.random.seed(seed)
    for t in transforms:
        results = t(results)
    # the next draw tells whether both consumed the same random numbers
    return results, np.random.random_sample()


def assert_same_region(pa, pb):
    """Two flat polygons cover the same region (vertex order may differ:
    mmdet rewrites every polygon through shapely's ``buffer(0)``)."""
    a = shapely.Polygon(np.reshape(pa, (-1, 2)))
    b = shapely.Polygon(np.reshape(pb, (-1, 2)))
    assert a.symmetric_difference(b).area <= 1e-6 * max(a.area, 1.0)


def assert_same_annotations(a, b):
    np.testing.assert_allclose(
        a['gt_bboxes'].numpy(), b['gt_bboxes'].numpy(), atol=1e-3)
    np.testing.assert_array_equal(a['gt_bboxes_labels'], b['gt_bboxes_labels'])
    np.testing.assert_array_equal(a['gt_ignore_flags'], b['gt_ignore_flags'])
    ma, mb = a['gt_masks'], b['gt_masks']
    assert type(ma) is type(mb)
    assert (ma.height, ma.width) == (mb.height, mb.width)
    if isinstance(ma, BitmapMasks):
        np.testing.assert_array_equal(ma.masks, mb.masks)
    else:
        assert len(ma.masks) == len(mb.masks)
        for pa, pb in zip(ma.masks, mb.masks):
            assert len(pa) == len(pb)
            for qa, qb in zip(pa, pb):
                assert_same_region(qa, qb)


META_KEYS = ('img_shape', 'pad_shape', 'scale', 'keep_ratio',
             'pad_fixed_size', 'pad_size_divisor')


def assert_same_meta(a, b):
    for key in META_KEYS:
        assert tuple(np.atleast_1d(a[key])) == tuple(np.atleast_1d(b[key])), key
    np.testing.assert_allclose(a['scale_factor'], b['scale_factor'])
    np.testing.assert_allclose(
        a['homography_matrix'], b['homography_matrix'], atol=1e-4)


def assert_same_image(got, expected, interpolation):
    """Bit for bit; bicubic and Lanczos within 1, where OpenCV's one- and
    three-channel kernels round differently (each channel is resized on its
    own)."""
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if interpolation in ('nearest', 'bilinear'):
        np.testing.assert_array_equal(got, expected)
    else:
        diff = np.abs(got.astype(int) - expected)
        assert diff.max() <= 1 and diff.mean() < 1e-3


def window_start(results):
    """(x, y) start of the crop window in the resized image."""
    return -results['homography_matrix'][:2, 2].astype(np.float64)


# ---------------------------------------------------------- equivalence
@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic', 'nearest'])
def test_identical_to_chain_without_crop(interpolation):
    """Ratios up to 1 never crop a side longer than the output: the window
    is the whole resized image, and image, masks and segmentation map equal
    the chain's bit for bit, whatever the sizes."""
    rng = np.random.default_rng(0)
    scale = (80, 64)
    lsj = LargeScaleJitter(scale=scale, ratio_range=(0.1, 1.0),
                           interpolation=interpolation)
    chain = mmdet_chain(scale, (0.1, 1.0), crop_type='absolute',
                        interpolation=interpolation)
    for seed in range(40):
        h, w = rng.integers(8, 100, 2)
        mask_type = ('polygon', 'bitmap')[seed % 2]
        results = coco_like(rng, h, w, rng.integers(0, 5), mask_type)
        results['gt_seg_map'] = rng.integers(0, 5, (h, w)).astype(np.uint8)
        expected, next_expected = run(chain, copy.deepcopy(results), seed)
        got, next_got = run([lsj], results, seed)
        assert next_got == next_expected
        assert_same_meta(got, expected)
        assert_same_image(got['img'], expected['img'], interpolation)
        np.testing.assert_array_equal(got['gt_seg_map'],
                                      expected['gt_seg_map'])
        assert_same_annotations(got, expected)


@pytest.mark.parametrize('keep_ratio', [True, False])
@pytest.mark.parametrize('interpolation', ['bilinear', 'lanczos', 'nearest'])
def test_identical_to_chain_with_whole_resize_factors(keep_ratio,
                                                      interpolation):
    """With whole resize factors every crop offset is a whole number of
    source pixels: crops anywhere in a 2x-4x upsampled image equal the
    chain's bit for bit, and consume the same random numbers."""
    rng = np.random.default_rng(1)
    lsj = LargeScaleJitter(scale=(40, 40), ratio_range=(3.0, 3.0),
                           keep_ratio=keep_ratio, interpolation=interpolation)
    chain = mmdet_chain((40, 40), (3.0, 3.0), interpolation=interpolation)
    chain[0] = RandomResize(scale=(40, 40), ratio_range=(3.0, 3.0),
                            resize_type=Resize, keep_ratio=keep_ratio,
                            interpolation=interpolation)
    starts = []
    for seed in range(30):
        # 120 / side is whole: x3 or x4 (keep_ratio: the short side's)
        h, w = [(30, 30), (40, 30), (30, 40), (40, 40)][seed % 4]
        if keep_ratio:
            h = w
        mask_type = ('polygon', 'bitmap')[seed % 2]
        results = coco_like(rng, h, w, rng.integers(0, 6), mask_type)
        results['gt_seg_map'] = rng.integers(0, 5, (h, w)).astype(np.uint8)
        expected, next_expected = run(chain, copy.deepcopy(results), seed)
        got, next_got = run([lsj], results, seed)
        assert next_got == next_expected
        assert_same_meta(got, expected)
        assert_same_image(got['img'], expected['img'], interpolation)
        np.testing.assert_array_equal(got['gt_seg_map'],
                                      expected['gt_seg_map'])
        assert_same_annotations(got, expected)
        starts.append(window_start(got))
    starts = np.array(starts)
    assert (starts > 2 * RESAMPLING_MARGIN).any()  # slices, not the image


def test_same_draws_as_chain_window_within_one_pixel():
    """Any sizes: same scale, same random numbers, and the window starts at
    most one resized pixel before the chain's (where a source slice can
    start); the kept objects are those of the chain up to objects that
    touch the window edge."""
    rng = np.random.default_rng(2)
    scale = (96, 96)
    lsj = LargeScaleJitter(scale=scale)
    chain = mmdet_chain(scale, (0.1, 2.0))
    fractional = 0
    for seed in range(150):
        h, w = rng.integers(24, 120, 2)
        results = coco_like(rng, h, w, num_objects=rng.integers(0, 6))
        expected, next_expected = run(chain, copy.deepcopy(results), seed)
        got, next_got = run([lsj], results, seed)
        assert next_got == next_expected
        assert got['scale'] == expected['scale']
        assert got['scale_factor'] == expected['scale_factor']
        shift = window_start(expected) - window_start(got)
        assert np.all(shift >= -1e-4) and np.all(shift < 1)
        fractional += (shift > 1e-4).any()
        assert abs(len(got['gt_bboxes']) - len(expected['gt_bboxes'])) <= 2
        if not (shift > 1e-4).any():
            assert_same_annotations(got, expected)
    assert fractional > 20  # the comparison saw both kinds of windows


@pytest.mark.parametrize('interpolation', ['bilinear', 'bicubic'])
def test_pixels_registered_with_the_window_at_coco_size(interpolation):
    """At 640x480 -> 1024, pixels are where the reported window says: an
    independent resampler (warpAffine, sampling the source at the window's
    pixel centres) agrees up to rounding, and the annotations match the
    chain's within the window's sub-pixel shift."""
    rng = np.random.default_rng(3)
    lsj = LargeScaleJitter(interpolation=interpolation)
    chain = mmdet_chain((1024, 1024), (0.1, 2.0),
                        interpolation=interpolation)
    flags = {'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC}
    for seed in (3, 5, 11):  # ratios 1.06, 0.52, 1.97
        results = coco_like(rng, 480, 640, num_objects=10)
        img = results['img']
        expected, _ = run(chain, copy.deepcopy(results), seed)
        got, _ = run([lsj], results, seed)
        assert got['img'].shape == (1024, 1024, 3)
        assert got['img'].dtype == np.uint8
        (sx, sy), (x0, y0) = got['scale_factor'], window_start(got)
        to_source = np.array([[1 / sx, 0, (x0 + 0.5) / sx - 0.5],
                              [0, 1 / sy, (y0 + 0.5) / sy - 0.5]])
        h, w = min(round(sy * 480), 1024), min(round(sx * 640), 1024)
        reference = cv2.warpAffine(
            img, to_source, (w, h),
            flags=flags[interpolation] | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(got['img'][:h, :w].astype(int) - reference)
        # warpAffine rounds positions to 1/32 px, cv2.resize to 1/2048 px
        assert diff.mean() < 0.5 and diff.max() <= 6
        assert not got['img'][h:].any() and not got['img'][:, w:].any()
        shift = np.tile(window_start(expected) - window_start(got), 2)
        kept = np.isin(expected['gt_bboxes_labels'], got['gt_bboxes_labels'])
        assert kept.mean() >= 0.8
        boxes = expected['gt_bboxes'].numpy()[kept] + shift
        got_boxes = got['gt_bboxes'].numpy()[np.isin(
            got['gt_bboxes_labels'], expected['gt_bboxes_labels'])]
        np.testing.assert_allclose(got_boxes, boxes, atol=1.01)


def draw_statistics(transforms, inputs, seeds):
    """Output scale, window start (x, y) and kept objects per draw."""
    stats = []
    for results, seed in zip(inputs, seeds):
        out, _ = run(transforms, copy.deepcopy(results), seed)
        stats.append((out['scale_factor'][0], *window_start(out),
                      len(out['gt_bboxes'])))
    return np.array(stats).T


def test_same_distribution_as_chain_two_sample_ks():
    """Independent seeds: the two transforms' draws of output scale, crop
    offset and kept-object count are samples of one distribution (two-sample
    KS); the same test tells apart a ratio range 20% narrower."""
    rng = np.random.default_rng(4)
    scale = (64, 64)
    inputs = [coco_like(rng, 48, 64, num_objects=6) for _ in range(400)]
    chain = draw_statistics(mmdet_chain(scale, (0.1, 2.0)), inputs,
                            range(400))
    lsj = draw_statistics([LargeScaleJitter(scale=scale)], inputs,
                          range(10_000, 10_400))
    names = ('scale', 'offset x', 'offset y', 'kept objects')
    for name, a, b in zip(names, chain, lsj):
        assert ks_2samp(a, b).pvalue > 0.01, name
    assert (chain[1] > 0).mean() > 0.25 and (chain[2] > 0).mean() > 0.25
    assert len(np.unique(chain[3])) >= 3 and (chain[3] < 6).mean() > 0.15
    narrower = draw_statistics(
        [LargeScaleJitter(scale=scale, ratio_range=(0.1, 1.6))], inputs,
        range(20_000, 20_400))
    assert ks_2samp(chain[0], narrower[0]).pvalue < 0.01


# -------------------------------------------------------- pure geometry
def test_rescaled_shape_fits_long_and_short_side():
    assert rescaled_shape((480, 640), (1024, 1024), True) == (768, 1024)
    assert rescaled_shape((480, 640), (2048, 1024), True) == (1024, 1365)
    assert rescaled_shape((480, 640), (100, 50), False) == (50, 100)
    assert rescaled_shape((1, 1000), (3, 3), True) == (1, 3)  # never 0


def test_nearest_indices_follow_cv2():
    src = np.arange(37, dtype=np.uint8)[None, :].repeat(2, 0)
    for dst_len in (5, 36, 37, 38, 80, 111):
        resized = cv2.resize(src, (dst_len, 2),
                             interpolation=cv2.INTER_NEAREST)[0]
        idx = nearest_source_indices(3, dst_len - 3, 37, dst_len)
        np.testing.assert_array_equal(src[0, idx], resized[3:])


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.data())
def test_plan_axis_covers_the_window(src_len, dst_len, data):
    """The window starts within one pixel before the drawn offset, on the
    slice's pixel grid, and the resized slice covers it with margin for the
    interpolation taps (or reaches the image edge as the full resize does)."""
    length = data.draw(st.integers(1, dst_len))
    offset = data.draw(st.integers(0, dst_len - length))
    plan = plan_axis(offset, length, src_len, dst_len)
    factor = dst_len / src_len
    assert offset - 1 < plan.start <= offset
    if plan.src_start == 0:
        assert plan.start == offset
    assert plan.start == pytest.approx(plan.src_start * factor + plan.skip)
    assert 0 <= plan.src_start < plan.src_stop <= src_len
    resized_len = round((plan.src_stop - plan.src_start) * factor)
    assert resized_len >= plan.skip + length
    first = (plan.start + 0.5) / factor - 0.5  # source position, pixel 0
    last = (plan.start + length - 0.5) / factor - 0.5
    assert plan.src_start == 0 or first - plan.src_start >= 4
    assert plan.src_stop == src_len or plan.src_stop - 1 - last >= 4


@st.composite
def polygon_masks(draw):
    """Objects of one or two polygons, some self-intersecting or
    degenerate, some entirely inside the box, some crossing it."""
    coords = st.floats(-20, 120, allow_nan=False, width=32)
    objects = []
    for _ in range(draw(st.integers(1, 5))):
        objects.append([
            np.array([draw(coords) for _ in range(2 * draw(st.integers(3, 6)))])
            for _ in range(draw(st.integers(1, 2)))
        ])
    return PolygonMasks(objects, 100, 100)


@settings(max_examples=100, deadline=None)
@given(polygon_masks(),
       st.tuples(st.floats(0, 40), st.floats(0, 40), st.floats(45, 100),
                 st.floats(45, 100)))
def test_crop_polygons_same_regions_as_mmdet(masks, box):
    box = np.array(box)
    expected = masks.crop(box)
    got = crop_polygons(masks, box, (64, 48))
    assert (got.height, got.width) == (64, 48)
    assert len(got.masks) == len(expected.masks)
    for got_obj, expected_obj in zip(got.masks, expected.masks):
        # same region per object; mmdet repairs self-intersecting polygons
        # even inside the box, so compare unions of repaired pieces
        def union(obj):
            return shapely.union_all([
                shapely.Polygon(p.reshape(-1, 2)).buffer(0) for p in obj])
        a, b = union(got_obj), union(expected_obj)
        assert a.symmetric_difference(b).area <= 1e-6 * max(a.area, 1.0)


# ------------------------------------------------------------ properties
SCALE = (48, 40)  # (w, h), not square on purpose


@st.composite
def annotated_images(draw):
    """Images with random, partly degenerate objects: zero-size boxes,
    boxes reaching outside the image, polygons of zero area."""
    h = draw(st.integers(1, 90))
    w = draw(st.integers(1, 90))
    n = draw(st.integers(0, 6))
    coords = st.floats(-10, 100, allow_nan=False, width=32)
    boxes, polys = [], []
    for _ in range(n):
        x1, x2 = sorted([draw(coords), draw(coords)])
        y1, y2 = sorted([draw(coords), draw(coords)])
        if draw(st.booleans()):
            x2 = x1  # zero width
        boxes.append([x1, y1, x2, y2])
        polys.append([np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float64)])
    mask_type = draw(st.sampled_from(['polygon', 'bitmap', None]))
    masks = None
    if mask_type is not None:
        masks = PolygonMasks(polys, h, w)
        if mask_type == 'bitmap':
            masks = BitmapMasks(masks.to_ndarray(), h, w)
    img = np.full((h, w, 3), 128, np.uint8)
    # labels number the objects; every third one is ignored
    results = make_results(img, boxes, masks,
                           ignore=np.arange(n) % 3 == 0)
    if masks is None:
        del results['gt_masks']
    return results, draw(st.integers(0, 2**31 - 1))


def mask_extents(masks):
    """(n, 4) extents of the masks, like the boxes they imply."""
    if isinstance(masks, BitmapMasks):
        return HorizontalBoxes.from_instance_masks(masks).numpy()
    return np.array([[*np.concatenate(p).reshape(-1, 2).min(0),
                      *np.concatenate(p).reshape(-1, 2).max(0)]
                     for p in masks.masks]).reshape(-1, 4)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(annotated_images())
def test_properties_on_degenerate_annotations(case):
    results, seed = case
    n_in = len(results['gt_bboxes'])
    np.random.seed(seed)
    out = LargeScaleJitter(scale=SCALE)(results)

    out_w, out_h = SCALE
    assert out['img'].shape == (out_h, out_w, 3)
    assert out['img_shape'] == (out_h, out_w)
    boxes = out['gt_bboxes'].numpy()
    labels = out['gt_bboxes_labels']
    n = len(boxes)
    assert len(labels) == len(out['gt_ignore_flags']) == n <= n_in
    # labels were the input order: objects keep their identity and order,
    # and their ignore flags
    assert np.all(np.diff(labels) > 0)
    np.testing.assert_array_equal(out['gt_ignore_flags'], labels % 3 == 0)
    # boxes lie on the image part of the output, not on the padding
    h, w = results['ori_shape']
    content_w = min(round(out['scale_factor'][0] * w), out_w)
    content_h = min(round(out['scale_factor'][1] * h), out_h)
    assert np.all(boxes >= 0)
    assert np.all(boxes[:, 0::2] <= content_w)
    assert np.all(boxes[:, 1::2] <= content_h)
    assert np.all(boxes[:, 2] - boxes[:, 0] > 1e-2)
    assert np.all(boxes[:, 3] - boxes[:, 1] > 1e-2)
    if 'gt_masks' in out:
        masks = out['gt_masks']
        assert len(masks) == n
        assert (masks.height, masks.width) == (out_h, out_w)
        # boxes are recomputed from the masks: equal to their extents
        np.testing.assert_allclose(mask_extents(masks), boxes, atol=1e-3)
        if isinstance(masks, BitmapMasks):
            assert not masks.masks[:, content_h:].any()
            assert not masks.masks[:, :, content_w:].any()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_objects_outside_the_crop_are_dropped(h, w, seed):
    # One object per image quadrant: whatever the crop, every kept box is
    # the visible part of its own object.
    boxes = [[0, 0, w / 2, h / 2], [w / 2, 0, w, h / 2],
             [0, h / 2, w / 2, h], [w / 2, h / 2, w, h]]
    results = make_results(np.zeros((h, w, 3), np.uint8), boxes, None)
    del results['gt_masks']
    np.random.seed(seed)
    out = LargeScaleJitter(scale=(16, 16))(results)
    # the same float32 arithmetic as the boxes get
    sx, sy = np.float32(out['scale_factor'])
    offset = np.tile(-out['homography_matrix'][:2, 2], 2).astype(np.float32)
    crop_w = min(round(out['scale_factor'][0] * w), 16)
    crop_h = min(round(out['scale_factor'][1] * h), 16)
    visible = np.asarray(boxes, np.float32) * [sx, sy, sx, sy] - offset
    visible = np.clip(visible, 0, [crop_w, crop_h, crop_w, crop_h])
    shown = ((visible[:, 0] < crop_w) & (visible[:, 1] < crop_h) &
             (visible[:, 2] > 0) & (visible[:, 3] > 0) &
             (visible[:, 2] - visible[:, 0] > 1e-2) &
             (visible[:, 3] - visible[:, 1] > 1e-2))
    np.testing.assert_array_equal(out['gt_bboxes_labels'], np.flatnonzero(shown))
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), visible[shown],
                               atol=1e-4)


def test_image_without_annotations_and_packing():
    img = np.zeros((30, 50, 3), np.uint8)
    results = make_results(img, np.zeros((0, 4)), PolygonMasks([], 30, 50))
    out = LargeScaleJitter(scale=(64, 32))(results)
    assert len(out['gt_bboxes']) == len(out['gt_masks']) == 0
    packed = PackDetInputs()(out)
    assert packed['inputs'].shape == (3, 32, 64)
    # channel-first memory: packing does not copy the image
    assert np.shares_memory(packed['inputs'].numpy(), out['img'])
    meta = packed['data_samples'].metainfo
    assert meta['img_shape'] == (32, 64)
    assert meta['scale_factor'] == out['scale_factor']


def test_pads_with_one_value_per_channel():
    img = np.full((20, 10, 3), 7, np.uint8)
    results = make_results(img, [[1, 1, 5, 5]], None)
    del results['gt_masks']
    np.random.seed(0)
    out = LargeScaleJitter(scale=(64, 64), ratio_range=(0.5, 0.5),
                           pad_val=dict(img=(104, 116, 124)))(results)
    # 20x10 -> 32x16 content, the rest padding
    assert (out['img'][32:] == (104, 116, 124)).all()
    assert (out['img'][:32, 16:] == (104, 116, 124)).all()
    assert (out['img'][:32, :16] == 7).all()


def test_registered_and_validates_arguments():
    lsj = TRANSFORMS.build(dict(type='LargeScaleJitter', scale=(32, 32)))
    assert isinstance(lsj, LargeScaleJitter)
    assert 'LargeScaleJitter(scale=(32, 32)' in repr(lsj)
    with pytest.raises(ValueError, match='interpolation'):
        LargeScaleJitter(interpolation='area')
    with pytest.raises(ValueError, match='ratio_range'):
        LargeScaleJitter(ratio_range=(2.0, 0.1))
    with pytest.raises(ValueError, match='scale'):
        LargeScaleJitter(scale=(1024.0, 1024))
    img = np.zeros((10, 10, 3), np.uint8)
    bad = make_results(img, [[0, 0, 5, 5]], PolygonMasks([[np.zeros(6)]], 9, 9))
    with pytest.raises(ValueError, match='same size'):
        LargeScaleJitter(scale=(8, 8))(bad)
