"""Large-scale jitter (LSJ) in one pass: random resize, crop and pad.

The paper's augmentation resizes an image by a random factor, then crops (or
pads) it to a fixed square. mmdet expresses it as a chain::

    RandomResize(scale=S, ratio_range=R, keep_ratio=True)
    -> RandomCrop(crop_type='absolute_range', crop_size=S,
                  recompute_bbox=True, allow_negative_crop=True)
    -> FilterAnnotations(min_gt_bbox_wh=(1e-2, 1e-2), keep_empty=False)
    -> Pad(size=S)

which resizes the whole image, up to 4x its area at ratio 2, only to throw
most of it away, then copies it twice more (the pad, then the HWC -> CHW
transpose of ``PackDetInputs``). :class:`LargeScaleJitter` draws the same
random numbers in the same order, resizes only the source pixels under the
crop window with the chain's own ``cv2.resize`` scale factors, and writes
them straight into a padded channel-first canvas.

``cv2.resize`` has no offset argument: resizing a source slice that starts
at pixel ``a`` yields the pixels of the full resized image from position
``a * f`` on (``f`` = resized / source size), fractional in general. The crop
window therefore starts at ``a * f + m`` (``m`` whole), at most one resized
pixel before the chain's whole-pixel offset (:func:`plan_axis`). Boxes, masks
and the homography use that exact position, so pixels and annotations stay
registered; the output scale, and so the distribution of crops and kept
objects, is the chain's. Where that start is a whole number (no crop, small
offsets, whole resize factors) the output equals the chain's bit for bit.

The geometry is a handful of pure functions below; the transform wires them.
Sizes are ``(h, w)`` unless named ``*_wh``; scales follow mmdet, ``(w, h)``.
"""
import math
from numbers import Number
from typing import List, NamedTuple, Tuple, Union

import cv2
import mmcv
import numpy as np
import shapely
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type
from mmdet.structures.mask import BitmapMasks, PolygonMasks

#: Interpolations of the image; masks and segmentation maps always use
#: nearest, as mmdet's ``Resize`` does. ``'area'`` is left out: away from
#: whole factors its output pixels mix source pixels that a slice would cut.
CV2_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'lanczos': cv2.INTER_LANCZOS4,
}
#: Source pixels read beyond the window on each side, so that no
#: interpolation tap (up to 4 for Lanczos) meets the edge of the slice,
#: where ``cv2.resize`` would replicate pixels instead of reading them.
RESAMPLING_MARGIN = 5
#: A window start this close to a whole pixel is that pixel (cv2 resolves
#: sub-pixel positions to 1/2048).
SNAP_TOLERANCE = 1e-6
#: shapely's type id of a polygon.
SHAPELY_POLYGON = 3


class AxisSlice(NamedTuple):
    """One axis of the crop window and the source slice that covers it.

    ``cv2.resize`` of source pixels ``src_start .. src_stop - 1`` by the
    resize factor gives the window from its pixel ``skip`` on.
    """
    start: float  #: window start in the resized image (fractional)
    length: int  #: window length in pixels
    src_start: int
    src_stop: int
    skip: int


class CropWindow(NamedTuple):
    """Crop window in the coordinates of the resized image."""
    y: AxisSlice
    x: AxisSlice

    @property
    def hw(self) -> Tuple[int, int]:
        return self.y.length, self.x.length

    @property
    def xyxy(self) -> np.ndarray:
        """``(4,)`` float64 box ``x1, y1, x2, y2`` (``x2``/``y2``
        exclusive)."""
        return np.array([
            self.x.start, self.y.start, self.x.start + self.x.length,
            self.y.start + self.y.length
        ])


def rescaled_shape(img_hw: Tuple[int, int], target_wh: Tuple[int, int],
                   keep_ratio: bool) -> Tuple[int, int]:
    """Shape ``(h, w)`` that mmdet's ``Resize`` gives an image.

    With ``keep_ratio`` the image is scaled as large as possible so that its
    long side fits ``max(target_wh)`` and its short side ``min(target_wh)``
    (``mmcv.rescale_size``); otherwise it is stretched to ``target_wh``.
    Sides are at least 1 pixel (where ``Resize`` would fail instead).
    """
    h, w = img_hw
    if keep_ratio:
        new_w, new_h = mmcv.rescale_size((w, h), tuple(target_wh))
    else:
        new_w, new_h = target_wh
    return max(int(new_h), 1), max(int(new_w), 1)


def crop_shape(resized_hw: Tuple[int, int],
               out_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Crop ``(h, w)`` of ``RandomCrop(crop_type='absolute')``: the output
    size, or the whole side where the resized image is smaller."""
    return min(resized_hw[0], out_hw[0]), min(resized_hw[1], out_hw[1])


def resize_factor(src_len: int, dst_len: int) -> float:
    """Resized pixels per source pixel, as ``cv2.resize`` computes it from
    the sizes (``dst / src`` in double precision)."""
    return dst_len / src_len


def plan_axis(offset: int, length: int, src_len: int,
              dst_len: int) -> AxisSlice:
    """Source slice and window start for a crop at ``offset`` of ``length``
    pixels along one axis resized from ``src_len`` to ``dst_len`` pixels.

    The slice starts ``RESAMPLING_MARGIN`` source pixels before the window
    (or at 0), at pixel ``a``; its resized pixels sit at ``a * f + i`` in the
    full resized image, so the window starts at the last of them not after
    ``offset``: ``offset`` itself where ``a * f`` is whole (always for
    ``offset`` 0, i.e. no crop), otherwise less than one pixel before.
    """
    factor = resize_factor(src_len, dst_len)
    src_start = max(math.floor((offset - 1) / factor) - RESAMPLING_MARGIN, 0)
    first = src_start * factor  # resized position of the slice's pixel 0
    skip = math.floor(offset - first + SNAP_TOLERANCE)
    start = first + skip
    if abs(start - round(start)) < SNAP_TOLERANCE:
        start = float(round(start))
    src_stop = min(
        math.ceil((start + length) / factor) + RESAMPLING_MARGIN, src_len)
    return AxisSlice(start, length, src_start, src_stop, skip)


def nearest_source_indices(start: float, length: int, src_len: int,
                           dst_len: int) -> np.ndarray:
    """Source indices of resized pixels ``start + i`` (``i < length``) for a
    nearest-neighbour resize from ``src_len`` to ``dst_len`` pixels.

    For a whole ``start`` this is bit-exact with ``cv2.resize(...,
    interpolation=cv2.INTER_NEAREST)``: ``min(floor(x / f), src_len - 1)``.

    Returns:
        ndarray: ``(length,)`` integer indices.
    """
    scale = 1.0 / resize_factor(src_len, dst_len)  # as cv2: 1 / inv_scale
    positions = (start + np.arange(length, dtype=np.float64)) * scale
    return np.minimum(np.floor(positions).astype(np.intp), src_len - 1)


def resize_window(img: np.ndarray, window: CropWindow,
                  resized_hw: Tuple[int, int],
                  interpolation: str) -> np.ndarray:
    """The window of ``img`` resized to ``resized_hw``, computed from the
    source pixels under it only.

    Args:
        img (ndarray): ``(H, W[, C])`` source image.
        window (CropWindow): from :func:`plan_axis` for both axes.
        resized_hw (tuple[int, int]): size of the full resized image.
        interpolation (str): a key of :data:`CV2_INTERPOLATIONS`.

    Returns:
        ndarray: ``(h, w[, C])`` with ``(h, w) = window.hw``.
    """
    ys, xs = window
    if interpolation == 'nearest':
        rows = nearest_source_indices(ys.start, ys.length, img.shape[0],
                                      resized_hw[0])
        cols = nearest_source_indices(xs.start, xs.length, img.shape[1],
                                      resized_hw[1])
        return gather_window(img, rows, cols, row_axis=0)
    src = img[ys.src_start:ys.src_stop, xs.src_start:xs.src_stop]
    # fx/fy rather than a size: the factor of the full resize, not of the
    # slice. Slice (sh, sw) -> (round(sh * fy), round(sw * fx)).
    resized = cv2.resize(
        src, (0, 0),
        fx=resize_factor(img.shape[1], resized_hw[1]),
        fy=resize_factor(img.shape[0], resized_hw[0]),
        interpolation=CV2_INTERPOLATIONS[interpolation])
    out = resized[ys.skip:ys.skip + ys.length, xs.skip:xs.skip + xs.length]
    if out.shape[:2] != window.hw:
        raise RuntimeError(f'resized slice {resized.shape[:2]} does not '
                           f'cover the window {window}')
    return out


def jitter_image(img: np.ndarray, window: CropWindow,
                 resized_hw: Tuple[int, int], out_hw: Tuple[int, int],
                 interpolation: str, fill) -> np.ndarray:
    """Resized window of ``img`` on a canvas of ``out_hw`` filled with
    ``fill`` (a number or one per channel), top-left aligned.

    A colour image is returned as the ``(h, w, C)`` view of a contiguous
    ``(C, h, w)`` array, and each channel is resized on its own straight into
    that layout: ``PackDetInputs`` then makes its ``(C, h, w)`` tensor
    without the transposing copy that costs as much as the resize.

    Returns:
        ndarray: ``out_hw`` or ``out_hw + (C, )``, of ``img.dtype``.
    """
    planes = img[..., None] if img.ndim == 2 else img
    num_channels = planes.shape[2]
    fill = np.broadcast_to(np.asarray(fill, dtype=img.dtype),
                           (num_channels, ))
    canvas = np.empty((num_channels, *out_hw), dtype=img.dtype)
    h, w = window.hw
    canvas[:, h:, :] = fill[:, None, None]
    canvas[:, :h, w:] = fill[:, None, None]
    for c in range(num_channels):
        # cv2 copies the strided source slice of one channel: small next
        # to the window whenever the crop cuts (the slice is upsampled).
        canvas[c, :h, :w] = resize_window(planes[..., c], window, resized_hw,
                                          interpolation)
    return canvas[0] if img.ndim == 2 else canvas.transpose(1, 2, 0)


def gather_window(array: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  row_axis: int) -> np.ndarray:
    """``array`` sampled at ``rows`` x ``cols`` (nearest neighbour).

    Args:
        array (ndarray): ``(H, W[, C])`` with ``row_axis=0`` or
            ``(N, H, W)`` with ``row_axis=1``.
        rows (ndarray): ``(h,)`` source row of each output row.
        cols (ndarray): ``(w,)`` source column of each output column.
        row_axis (int): axis of the rows; columns are the next axis.

    Returns:
        ndarray: the sampled array, ``H, W`` replaced by ``h, w``.
    """
    return array.take(rows, axis=row_axis).take(cols, axis=row_axis + 1)


def paste_on_canvas(window: np.ndarray, out_hw: Tuple[int, int], fill,
                    row_axis: int) -> np.ndarray:
    """Top-left paste of ``window`` on a canvas of ``out_hw`` filled with
    ``fill`` (a number, or one per channel); the layout of ``window`` is as
    in :func:`gather_window`."""
    shape = list(window.shape)
    shape[row_axis:row_axis + 2] = out_hw
    canvas = np.empty(shape, dtype=window.dtype)
    canvas[...] = fill
    h, w = window.shape[row_axis:row_axis + 2]
    canvas[(slice(None), ) * row_axis + (slice(0, h), slice(0, w))] = window
    return canvas


def crop_polygons(masks: PolygonMasks, box: np.ndarray,
                  out_hw: Tuple[int, int]) -> PolygonMasks:
    """``masks.crop(box)`` of mmdet on a canvas of ``out_hw``, with shapely 2
    on all polygons at once and clipping only where it can change them.

    A valid polygon inside the box is only shifted to the box corner (mmdet
    would also rewrite it through ``buffer(0)``: same region, its vertices
    possibly in another order). Any other polygon goes through mmdet's
    steps: repaired with ``buffer(0)``, dropped if still invalid,
    intersected with the box; the polygon parts of the intersection are kept
    (lines and points are not), shifted, without the closing vertex. An
    object left with no polygon gets mmdet's dummy ``[0, 0, 0, 0, 0, 0]`` so
    that masks and boxes stay aligned.

    Args:
        masks (PolygonMasks): polygons of the resized image.
        box (ndarray): ``(4,)`` ``x1, y1, x2, y2`` inside the image.
        out_hw (tuple[int, int]): size of the returned masks.
    """
    # (num_vertices, 2) per polygon
    polygons = [p.reshape(-1, 2) for obj in masks.masks for p in obj]
    pieces: List[list] = [[] for _ in polygons]
    if polygons:
        rings = shapely.linearrings(
            np.concatenate(polygons),
            indices=np.repeat(np.arange(len(polygons)),
                              [len(p) for p in polygons]))
        shapes = shapely.polygons(rings)
        bounds = shapely.bounds(shapes)  # (num_polygons, 4), xyxy
        with np.errstate(invalid='ignore'):  # as mmdet, for GEOS < 3.11.2
            inside = (shapely.is_valid(shapes)
                      & (bounds[:, :2] >= box[:2]).all(1)
                      & (bounds[:, 2:] <= box[2:]).all(1))
            crossing = np.flatnonzero(~inside)
            repaired = shapely.buffer(shapes[crossing], 0.0)
            repaired_valid = shapely.is_valid(repaired)
            valid = crossing[repaired_valid]
            parts, part_polygon = shapely.get_parts(
                shapely.intersection(repaired[repaired_valid],
                                     shapely.buffer(shapely.box(*box), 0.0)),
                return_index=True)
            kept = ((shapely.get_type_id(parts) == SHAPELY_POLYGON)
                    & ~shapely.is_empty(parts) & shapely.is_valid(parts))
        exteriors = shapely.get_exterior_ring(parts[kept])
        coords, coord_ring = shapely.get_coordinates(
            exteriors, return_index=True)
        ends = np.searchsorted(coord_ring, np.arange(1, len(exteriors) + 1))
        starts = np.concatenate([[0], ends[:-1]]).astype(int)
        for polygon, start, end in zip(valid[part_polygon[kept]], starts,
                                       ends):
            # without the closing vertex (a copy of the first)
            pieces[polygon].append(coords[start:end - 1] - box[:2])
        for polygon in np.flatnonzero(inside):
            pieces[polygon].append(polygons[polygon] - box[:2])

    cropped: List[list] = []
    first = 0
    for obj in masks.masks:
        obj_pieces = [
            piece.reshape(-1) for polygon in range(first, first + len(obj))
            for piece in pieces[polygon]
        ]
        cropped.append(obj_pieces or [np.zeros(6)])
        first += len(obj)
    return PolygonMasks(cropped, *out_hw)


@TRANSFORMS.register_module()
class LargeScaleJitter(BaseTransform):
    """Resize by a random factor, crop and pad to a fixed size, in one pass.

    Same output distribution as mmdet's ``RandomResize -> RandomCrop ->
    FilterAnnotations -> Pad`` chain (module docstring), consuming numpy's
    global random state identically: one ``random_sample`` for the ratio,
    then ``randint`` for the vertical and the horizontal crop offset. The
    window starts up to one resized pixel before the chain's offset, where
    the resize of a source slice can start (:func:`plan_axis`).

    Objects whose boxes leave the crop are dropped; with masks, the boxes are
    recomputed from the cropped masks and objects whose box is thinner than
    ``min_gt_bbox_wh`` are dropped too. Images left without objects are kept.
    Put ``RandomFlip`` before this transform: flipping the small source is
    cheaper, the output keeps its channel-first memory (``jitter_image``)
    and, crop offsets being uniform, the distribution is the same.

    Required Keys:

    - img
    - gt_bboxes (BaseBoxes[torch.float32]) (optional)
    - gt_bboxes_labels (np.int64) (optional)
    - gt_masks (BitmapMasks | PolygonMasks) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_seg_map (np.uint8) (optional)

    Modified Keys:

    - img, img_shape (the padded size, as after mmcv's ``Pad``)
    - gt_bboxes, gt_bboxes_labels, gt_masks, gt_ignore_flags, gt_seg_map

    Added Keys:

    - scale, scale_factor, keep_ratio, homography_matrix
    - pad_shape, pad_fixed_size, pad_size_divisor

    Args:
        scale (tuple[int, int]): output size ``(w, h)`` and the base of the
            random scale. Defaults to ``(1024, 1024)``.
        ratio_range (tuple[float, float]): the image is resized to fit
            ``scale * ratio`` with ``ratio ~ U(*ratio_range)``.
            Defaults to ``(0.1, 2.0)``.
        keep_ratio (bool): keep the aspect ratio when resizing.
        interpolation (str): image interpolation, one of
            :data:`CV2_INTERPOLATIONS`. Defaults to ``'bilinear'``.
        pad_val (Number | dict): padding value; a number pads the image and
            255 the segmentation map, a dict may give ``img`` (a number or
            one per channel), ``seg`` and ``masks``.
            Defaults to ``dict(img=0, seg=255)`` (masks 0).
        min_gt_bbox_wh (tuple[float, float]): objects whose box (after
            cropping) is not wider and taller than this are dropped.
        recompute_bbox (bool): recompute the boxes from the cropped masks.
    """

    def __init__(self,
                 scale: Tuple[int, int] = (1024, 1024),
                 ratio_range: Tuple[float, float] = (0.1, 2.0),
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear',
                 pad_val: Union[Number, dict] = dict(img=0, seg=255),
                 min_gt_bbox_wh: Tuple[float, float] = (1e-2, 1e-2),
                 recompute_bbox: bool = True) -> None:
        if (len(scale) != 2 or not all(isinstance(s, int) for s in scale)
                or min(scale) < 1):
            raise ValueError(
                f'scale must be two positive ints (w, h), got {scale!r}')
        if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError('ratio_range must be (min, max) with '
                             f'0 < min <= max, got {ratio_range!r}')
        if interpolation not in CV2_INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{sorted(CV2_INTERPOLATIONS)}, '
                             f'got {interpolation!r}')
        if isinstance(pad_val, Number):
            pad_val = dict(img=pad_val, seg=255)
        if not isinstance(pad_val, dict):
            raise TypeError(
                f'pad_val must be a number or a dict, got {pad_val!r}')
        self.scale = tuple(scale)
        self.ratio_range = tuple(ratio_range)
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation
        self.pad_val = pad_val
        self.min_gt_bbox_wh = tuple(min_gt_bbox_wh)
        self.recompute_bbox = recompute_bbox

    @property
    def out_hw(self) -> Tuple[int, int]:
        return self.scale[1], self.scale[0]

    @cache_randomness
    def _random_target_scale(self) -> Tuple[int, int]:
        """Target ``(w, h)`` as mmcv's ``RandomResize`` draws it."""
        low, high = self.ratio_range
        ratio = np.random.random_sample() * (high - low) + low
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    @cache_randomness
    def _random_offset(self, margin_hw: Tuple[int, int]) -> Tuple[int, int]:
        """Crop offset ``(y, x)`` as mmdet's ``RandomCrop`` draws it.

        ``RandomCrop(crop_type='absolute_range')`` first calls ``randint``
        over a single value for each crop side, which leaves numpy's state
        untouched, so these two draws are the only ones that follow.
        """
        offset_h = np.random.randint(0, margin_hw[0] + 1)
        offset_w = np.random.randint(0, margin_hw[1] + 1)
        return offset_h, offset_w

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        """Jitter the image and its annotations.

        Args:
            results (dict): result dict of the loading pipeline.

        Returns:
            dict: the updated result dict; never None.
        """
        img = results['img']
        img_hw = img.shape[:2]
        target_wh = self._random_target_scale()
        resized_hw = rescaled_shape(img_hw, target_wh, self.keep_ratio)
        crop_hw = crop_shape(resized_hw, self.out_hw)
        offset_h, offset_w = self._random_offset(
            (resized_hw[0] - crop_hw[0], resized_hw[1] - crop_hw[1]))
        window = CropWindow(
            y=plan_axis(offset_h, crop_hw[0], img_hw[0], resized_hw[0]),
            x=plan_axis(offset_w, crop_hw[1], img_hw[1], resized_hw[1]))
        # Ratios of the integer sizes, as mmdet's Resize reports them.
        scale_factor = (resized_hw[1] / img_hw[1], resized_hw[0] / img_hw[0])

        results['img'] = jitter_image(img, window, resized_hw, self.out_hw,
                                      self.interpolation,
                                      self.pad_val.get('img', 0))
        results['img_shape'] = self.out_hw
        results['pad_shape'] = results['img'].shape
        results['pad_fixed_size'] = self.scale
        results['pad_size_divisor'] = None
        results['scale'] = target_wh
        results['scale_factor'] = scale_factor
        results['keep_ratio'] = self.keep_ratio
        self._record_homography_matrix(results, scale_factor, window)

        # Source row / column of every window pixel under nearest sampling,
        # as Resize samples masks and segmentation maps.
        rows = nearest_source_indices(window.y.start, crop_hw[0], img_hw[0],
                                      resized_hw[0])
        cols = nearest_source_indices(window.x.start, crop_hw[1], img_hw[1],
                                      resized_hw[1])
        if results.get('gt_bboxes') is not None:
            self._jitter_instances(results, img_hw, resized_hw, window,
                                   rows, cols)
        elif results.get('gt_masks') is not None:
            raise KeyError('gt_masks need gt_bboxes: objects are kept or '
                           'dropped by their boxes')
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = paste_on_canvas(
                gather_window(results['gt_seg_map'], rows, cols, row_axis=0),
                self.out_hw, self.pad_val.get('seg', 255), row_axis=0)
        return results

    def _jitter_instances(self, results: dict, img_hw: Tuple[int, int],
                          resized_hw: Tuple[int, int], window: CropWindow,
                          rows: np.ndarray, cols: np.ndarray) -> None:
        """Boxes, masks, labels and ignore flags, as ``Resize``,
        ``RandomCrop`` and ``FilterAnnotations`` leave them."""
        boxes = results['gt_bboxes']
        # Resize's clip to the resized image is implied by the clip to the
        # window, which lies inside it.
        boxes.rescale_(results['scale_factor'])
        boxes.translate_([-window.x.start, -window.y.start])
        boxes.clip_(window.hw)
        inside = boxes.is_inside(window.hw).numpy()
        keep = np.flatnonzero(inside)
        boxes = boxes[inside]

        masks = results.get('gt_masks')
        if masks is not None:
            if (masks.height, masks.width) != tuple(img_hw):
                raise ValueError(
                    f'gt_masks are {masks.height}x{masks.width} but the image '
                    f'is {img_hw[0]}x{img_hw[1]}; they must be the same size')
            # Indexing copies every bitmap: only when it drops one.
            if len(keep) < len(masks):
                masks = masks[keep]
            masks = self._crop_masks(masks, resized_hw, window, rows, cols)
            if self.recompute_bbox:
                boxes = masks.get_bboxes(type(boxes))

        large = ((boxes.widths > self.min_gt_bbox_wh[0]) &
                 (boxes.heights > self.min_gt_bbox_wh[1])).numpy()
        keep = keep[large]
        results['gt_bboxes'] = boxes[large]
        if masks is not None:
            results['gt_masks'] = (masks if large.all() else
                                   masks[np.flatnonzero(large)])
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key) is not None:
                results[key] = results[key][keep]

    def _crop_masks(self, masks: Union[BitmapMasks, PolygonMasks],
                    resized_hw: Tuple[int, int], window: CropWindow,
                    rows: np.ndarray, cols: np.ndarray
                    ) -> Union[BitmapMasks, PolygonMasks]:
        """Masks resized, cropped to ``window`` and padded to the output."""
        if isinstance(masks, PolygonMasks):
            return crop_polygons(
                masks.resize(resized_hw), window.xyxy, self.out_hw)
        if not isinstance(masks, BitmapMasks):
            raise TypeError('gt_masks must be BitmapMasks or PolygonMasks, '
                            f'got {type(masks).__name__}')
        bitmaps = paste_on_canvas(
            gather_window(masks.masks, rows, cols, row_axis=1),
            self.out_hw, self.pad_val.get('masks', 0), row_axis=1)
        return BitmapMasks(bitmaps, *self.out_hw)

    @staticmethod
    def _record_homography_matrix(results: dict,
                                  scale_factor: Tuple[float, float],
                                  window: CropWindow) -> None:
        """Compose resize then crop onto any earlier homography, as
        ``Resize`` and ``RandomCrop`` do one after the other."""
        resize = np.array(
            [[scale_factor[0], 0, 0], [0, scale_factor[1], 0], [0, 0, 1]],
            dtype=np.float32)
        crop = np.array(
            [[1, 0, -window.x.start], [0, 1, -window.y.start], [0, 0, 1]],
            dtype=np.float32)
        previous = results.get('homography_matrix')
        matrix = resize if previous is None else resize @ previous
        results['homography_matrix'] = crop @ matrix

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'ratio_range={self.ratio_range}, '
                f'keep_ratio={self.keep_ratio}, '
                f'interpolation={self.interpolation!r}, '
                f'pad_val={self.pad_val}, '
                f'min_gt_bbox_wh={self.min_gt_bbox_wh}, '
                f'recompute_bbox={self.recompute_bbox})')
