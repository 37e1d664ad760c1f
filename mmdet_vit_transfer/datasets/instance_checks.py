"""Clean one COCO annotation: degenerate boxes and invalid masks.

Pure functions of an annotation and its image size. Each returns the cleaned
value (or None when the annotation cannot be used) and an *outcome*, one of
:data:`OUTCOMES`, which the dataset counts and logs. A box is clipped to the
image when it is partly outside. A polygon part is dropped when it has no
area inside the image; one that reaches more than an image size beyond the
border is clipped to the image (Sutherland-Hodgman), because pycocotools'
rasteriser allocates memory in proportion to the coordinates. Other parts
are kept exactly as written, so valid annotations give mmdet's masks.
"""
import math
from numbers import Real
from typing import List, Optional, Sequence, Tuple

import numpy as np

#: Outcome of a kept, unchanged annotation.
OK = 'ok'
#: Outcomes and what happens to the annotation; everything but
#: ``box_clipped`` and ``polygon_part_dropped`` drops the annotation.
OUTCOMES = {
    'box_non_finite': 'a bbox value is NaN or infinite',
    'box_empty': 'bbox width or height is zero or negative',
    'box_outside_image': 'bbox does not overlap the image',
    'box_tiny': 'bbox is under 1 px wide or high inside the image',
    'box_clipped': 'bbox partly outside the image, clipped to it (kept)',
    'mask_missing': 'no segmentation for a mask-training instance',
    'polygon_part_dropped': 'polygon part with fewer than 3 points, an odd '
    'number of values, non-numeric, non-finite or absurd (beyond 1e8 px) '
    'coordinates, or no area inside the image, dropped (the instance keeps '
    'its other parts)',
    'mask_invalid': 'no usable polygon part, or an RLE whose size is not the '
    "image's or whose counts do not cover it",
}
#: Smallest kept box side in pixels, mmdet's CocoDataset rule.
MIN_BOX_SIZE = 1.0
#: Polygon coordinates beyond this many pixels are corrupt values; clipping
#: them would overflow float64.
MAX_COORDINATE = 1e8


def check_box(bbox: Sequence[float], width: int,
              height: int) -> Tuple[Optional[List[float]], str]:
    """Validate a COCO ``[x, y, w, h]`` box against its image.

    Args:
        bbox (Sequence[float]): Four numbers.
        width (int): Image width.
        height (int): Image height.

    Returns:
        tuple: ``([x1, y1, x2, y2], outcome)`` with the box clipped to the
        image, or ``(None, outcome)`` if the box is dropped.
    """
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None, 'box_non_finite'
    if w <= 0 or h <= 0:
        return None, 'box_empty'
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(width)), min(y + h, float(height))
    if x2 <= x1 or y2 <= y1:
        return None, 'box_outside_image'
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        return None, 'box_tiny'
    clipped = [x1, y1, x2, y2]
    return clipped, OK if clipped == [x, y, x + w, y + h] else 'box_clipped'


def is_degenerate(points: np.ndarray) -> bool:
    """Whether ``(k, 2)`` vertices enclose no area: fewer than three, or
    all on one line. (A self-intersecting polygon, whose signed areas may
    cancel, still covers pixels and is not degenerate.)"""
    if len(points) < 3:
        return True
    return np.linalg.matrix_rank(points[1:] - points[0], tol=1e-9) < 2


def clip_polygon(points: np.ndarray, width: float,
                 height: float) -> np.ndarray:
    """Clip a polygon to the rectangle ``[0, width] x [0, height]``.

    Sutherland-Hodgman against the four edges: exact for any polygon and a
    convex clip region (edges along the border may be degenerate, which
    rasterises to nothing).

    Args:
        points (np.ndarray): ``(k, 2)`` float vertices ``(x, y)``.
        width (float): Rectangle width.
        height (float): Rectangle height.

    Returns:
        np.ndarray: ``(m, 2)`` clipped vertices, ``m`` may be 0.
    """
    # (axis, bound, keep side): x >= 0, x <= width, y >= 0, y <= height.
    edges = ((0, 0.0, 1.0), (0, float(width), -1.0), (1, 0.0, 1.0),
             (1, float(height), -1.0))
    out = [tuple(p) for p in np.asarray(points, dtype=np.float64)]
    for axis, bound, sign in edges:
        if not out:
            break
        inp, out = out, []
        for i, cur in enumerate(inp):
            prev = inp[i - 1]
            cur_in = sign * (cur[axis] - bound) >= 0
            prev_in = sign * (prev[axis] - bound) >= 0
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                crossing = [prev[0] + t * (cur[0] - prev[0]),
                            prev[1] + t * (cur[1] - prev[1])]
                crossing[axis] = bound
                out.append(tuple(crossing))
            if cur_in:
                out.append(cur)
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def clean_polygon_part(part, width: int,
                       height: int) -> Optional[List[float]]:
    """One polygon part ready for rasterisation, or None if unusable.

    Args:
        part: A flat list ``[x1, y1, x2, y2, ...]``.
        width (int): Image width.
        height (int): Image height.

    Returns:
        list[float] | None: The part as written, or clipped to the image if
        a vertex lies more than an image size outside it; None if it has
        fewer than 3 points, an odd length, a non-numeric, non-finite or
        absurd (beyond :data:`MAX_COORDINATE`) value, or no area inside
        the image.
    """
    if not isinstance(part, (list, tuple)) or len(part) < 6 or \
            len(part) % 2 or not all(
                isinstance(v, Real) and not isinstance(v, bool)
                for v in part):
        return None
    points = np.asarray(part, dtype=np.float64).reshape(-1, 2)
    if not (np.abs(points) <= MAX_COORDINATE).all():  # NaN fails too
        return None
    clipped = clip_polygon(points, width, height)
    if is_degenerate(clipped):
        return None
    far = (points < -np.array([width, height])) | \
        (points > 2 * np.array([width, height]))
    return (clipped if far.any() else points).reshape(-1).tolist()


def decode_rle_counts(counts: str) -> Optional[List[int]]:
    """Run lengths of a compressed COCO RLE string, or None if it is not
    one (pycocotools' ``rleFrString``: 5 bits per character from ``'0'``,
    bit 6 continues a number, counts after the second are deltas)."""
    runs, pos = [], 0
    while pos < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if pos == len(counts):
                return None
            c = ord(counts[pos]) - 48
            if not 0 <= c < 64:
                return None
            value |= (c & 0x1f) << shift
            more = bool(c & 0x20)
            pos, shift = pos + 1, shift + 5
            if not more and c & 0x10:
                value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def check_rle(rle: dict, width: int, height: int) -> bool:
    """Whether an RLE mask (``{'size': [h, w], 'counts': ...}``) has the
    image's size and run lengths that cover it exactly.

    pycocotools decodes without bounds checks, so run lengths that add up
    to more than ``h * w`` would write past its buffer.
    """
    size, counts = rle.get('size'), rle.get('counts')
    if not isinstance(size, (list, tuple)) or list(size) != [height, width]:
        return False
    if isinstance(counts, str):
        counts = decode_rle_counts(counts)
    if not isinstance(counts, (list, tuple)) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0
            for c in counts):
        return False
    return sum(counts) == height * width


def check_segmentation(segmentation, width: int,
                       height: int) -> Tuple[Optional[object], str, int]:
    """Validate a COCO ``segmentation`` (polygon list or RLE dict).

    Args:
        segmentation: The annotation's ``segmentation`` value.
        width (int): Image width.
        height (int): Image height.

    Returns:
        tuple: ``(cleaned, outcome, dropped_parts)``: the polygons clipped to
        the image (or the RLE unchanged), or None when the mask is unusable
        (``mask_missing`` / ``mask_invalid``); ``dropped_parts`` counts
        polygon parts removed.
    """
    if segmentation is None or (isinstance(segmentation, (list, dict))
                                and len(segmentation) == 0):
        return None, 'mask_missing', 0
    if isinstance(segmentation, dict):
        if check_rle(segmentation, width, height):
            return segmentation, OK, 0
        return None, 'mask_invalid', 0
    if not isinstance(segmentation, list):
        return None, 'mask_invalid', 0
    parts = [clean_polygon_part(part, width, height) for part in segmentation]
    kept = [part for part in parts if part is not None]
    dropped = len(parts) - len(kept)
    if not kept:
        return None, 'mask_invalid', dropped
    return kept, 'polygon_part_dropped' if dropped else OK, dropped
