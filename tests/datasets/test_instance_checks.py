"""Degenerate boxes and invalid masks: dropped, clipped or kept, with the
outcome the dataset counts."""
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path
from pycocotools import mask as mask_utils

from mmdet_vit_transfer.datasets.instance_checks import (
    OK, OUTCOMES, check_box, check_rle, check_segmentation,
    clean_polygon_part, clip_polygon, decode_rle_counts, is_degenerate)

W, H = 40, 30


@pytest.mark.parametrize('bbox,expected', [
    ([2, 3, 10, 5], ([2, 3, 12, 8], OK)),
    ([0, 0, W, H], ([0, 0, W, H], OK)),
    ([-5, 3, 10, 5], ([0, 3, 5, 8], 'box_clipped')),
    ([35, 25, 10, 10], ([35, 25, W, H], 'box_clipped')),
    ([2, 3, 0, 5], (None, 'box_empty')),
    ([2, 3, 5, -1], (None, 'box_empty')),
    ([math.nan, 3, 5, 5], (None, 'box_non_finite')),
    ([2, 3, math.inf, 5], (None, 'box_non_finite')),
    ([W, 0, 5, 5], (None, 'box_outside_image')),
    ([-20, -20, 10, 10], (None, 'box_outside_image')),
    ([2, 3, 0.5, 5], (None, 'box_tiny')),
    ([W - 0.5, 3, 5, 5], (None, 'box_tiny')),
    ([-1e308, -1e308, 1e308, 1e308], (None, 'box_outside_image')),
])
def test_boxes(bbox, expected):
    box, outcome = check_box(bbox, W, H)
    assert (box, outcome) == expected
    assert outcome in OUTCOMES or outcome == OK


def test_kept_parts_are_left_as_written():
    part = [-3, 2.5, 20, 2.5, 20, 40, -3, 40]  # crosses two borders
    assert clean_polygon_part(part, W, H) == [float(v) for v in part]


@pytest.mark.parametrize('part', [
    [1, 2, 3, 4],                       # two points
    [1, 2, 3, 4, 5],                    # odd length
    [1, 2, 3, 4, 5, 6],                 # collinear
    [1, 2, 3, math.nan, 5, 6],          # NaN
    [1, 2, 3, math.inf, 5, 6],          # inf
    [1, 2, 3, 'a', 5, 6],               # not a number
    [1, 2, 3, True, 5, 6],              # not a number either
    [1, 2, 3, 2e8, 5, 6],               # absurd
    [50, 40, 60, 40, 60, 50],           # outside the image
    [0, 0, 0, 10, 0, 20],               # a line along the border
    'polygon',
])
def test_unusable_parts_are_dropped(part):
    assert clean_polygon_part(part, W, H) is None


def test_a_self_intersecting_part_is_kept():
    bow_tie = [0, 0, 10, 10, 10, 0, 0, 10]  # signed areas cancel
    assert clean_polygon_part(bow_tie, W, H) is not None


def test_far_away_vertices_are_clipped_quickly():
    """pycocotools would draw 5 points per pixel of the 1e7 px edge."""
    part = [5, 5, 1e7, 5, 5, 20]
    start = time.perf_counter()
    cleaned = clean_polygon_part(part, W, H)
    rle = mask_utils.merge(mask_utils.frPyObjects([cleaned], H, W))
    assert time.perf_counter() - start < 1.0
    points = np.array(cleaned).reshape(-1, 2)
    assert (points >= 0).all() and (points[:, 0] <= W).all()
    assert mask_utils.area(rle) > 0


def exact_mask(points):
    """Pixels whose centre lies inside the polygon."""
    yy, xx = np.mgrid[:H, :W]
    centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], 1)
    return Path(points).contains_points(centres).reshape(H, W)


@settings(max_examples=200, deadline=None)
@given(
    centre=st.tuples(st.floats(-200, 250), st.floats(-200, 250)),
    radii=st.lists(st.floats(1, 300), min_size=3, max_size=8),
    angles=st.lists(st.floats(0, 2 * math.pi), min_size=3, max_size=8))
def test_clipping_keeps_the_polygon_inside_the_image(centre, radii, angles):
    """Clipped star-shaped polygons cover the same pixel centres inside the
    image as the original ones."""
    n = min(len(radii), len(angles))
    order = np.sort(np.array(angles[:n]))
    points = np.stack([centre[0] + np.array(radii[:n]) * np.cos(order),
                       centre[1] + np.array(radii[:n]) * np.sin(order)], 1)
    clipped = clip_polygon(points, W, H)
    if is_degenerate(clipped):
        assert not exact_mask(points).any()  # nothing of it is inside
        return
    assert (clipped >= -1e-9).all()
    assert (clipped <= np.array([W, H]) + 1e-9).all()
    original, kept = exact_mask(points), exact_mask(clipped)
    # Equal up to centres lying on the border-crossing edges.
    assert (original != kept).sum() <= 2, (original != kept).sum()


def test_segmentation_outcomes():
    good = [[1, 1, 20, 1, 20, 20]]
    assert check_segmentation(good, W, H) == ([[1.0, 1.0, 20.0, 1.0, 20.0,
                                                20.0]], OK, 0)
    cleaned, outcome, dropped = check_segmentation(good + [[1, 2]], W, H)
    assert (len(cleaned), outcome, dropped) == (1, 'polygon_part_dropped', 1)
    assert check_segmentation([[1, 2], [3]], W,
                              H) == (None, 'mask_invalid', 2)
    for missing in (None, [], {}):
        assert check_segmentation(missing, W, H) == (None, 'mask_missing', 0)
    assert check_segmentation('x', W, H) == (None, 'mask_invalid', 0)


def encoded(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=rle['size'], counts=rle['counts'].decode())


def run_lengths(mask):
    flat = mask.flatten(order='F')
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(edges).tolist()
    return [0] + runs if flat[0] else runs


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.floats(0, 1),
       st.integers(0, 2**32 - 1))
def test_compressed_rle_decodes_like_pycocotools(h, w, fill, seed):
    mask = np.random.default_rng(seed).random((h, w)) < fill
    assert decode_rle_counts(encoded(mask)['counts']) == run_lengths(mask)


def test_rle_masks_must_cover_the_image():
    mask = np.zeros((H, W), bool)
    mask[3:9, 4:12] = True
    rle = encoded(mask)
    assert check_rle(rle, W, H)
    assert check_segmentation(rle, W, H) == (rle, OK, 0)
    assert not check_rle(dict(rle, size=[W, H]), W, H)
    assert not check_rle(dict(rle, counts=rle['counts'][:-2]), W, H)
    assert not check_rle(dict(rle, counts=rle['counts'] + '1'), W, H)
    assert not check_rle(dict(rle, counts='\x7f'), W, H)
    assert not check_rle(dict(rle, counts=None), W, H)
    uncompressed = dict(size=[H, W], counts=run_lengths(mask))
    assert check_rle(uncompressed, W, H)
    assert not check_rle(dict(uncompressed, counts=[W * H + 1]), W, H)
    assert not check_rle(dict(uncompressed, counts=[-1, W * H + 1]), W, H)
    assert check_segmentation(dict(size=[H, W], counts=[5]), W, H) == (
        None, 'mask_invalid', 0)
