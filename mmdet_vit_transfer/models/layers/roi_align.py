"""RoIAlign on the CPU as one sparse matrix product for all pyramid levels.

mmcv's CPU kernel visits RoIs, channels and bins one at a time in a single
thread, forward and backward, once per pyramid level. Here RoIAlign is
written as what it is, a linear map: every output bin is a fixed weighted
sum of feature pixels (the bilinear weights of its samples, averaged). The
weights of all RoIs on all levels form one sparse matrix ``S``; the pooled
features are ``S @ X`` with ``X`` the levels' pixels stacked channels-last,
and the gradient is ``S^T @ grad``. Both products run in MKL's multi-threaded
sparse kernels. Numerically this is mmcv's average-pooled RoIAlign (same
sample positions, clamping and zeroing rules); only summation order differs.
"""
import warnings
from typing import List, Sequence, Tuple

import torch


def sampling_grid_sizes(heights: torch.Tensor, widths: torch.Tensor,
                        output_size: Tuple[int, int],
                        sampling_ratio: int) -> torch.Tensor:
    """Samples per bin along y and x for each RoI, as mmcv counts them.

    Args:
        heights (Tensor): RoI heights on their feature map, shape ``(n,)``.
        widths (Tensor): RoI widths on their feature map, shape ``(n,)``.
        output_size (tuple[int, int]): pooled ``(height, width)``.
        sampling_ratio (int): fixed samples per bin side, or 0 for
            ``ceil(roi_size / output_size)`` per RoI.

    Returns:
        Tensor: integer ``(n, 2)`` of ``(samples_y, samples_x)``.
    """
    if sampling_ratio > 0:
        return torch.full((len(heights), 2), sampling_ratio, dtype=torch.long,
                          device=heights.device)
    return torch.stack([
        torch.ceil(heights / output_size[0]),
        torch.ceil(widths / output_size[1])
    ], dim=1).long()


def bin_sample_points(starts: torch.Tensor, sizes: torch.Tensor, bins: int,
                      samples: int) -> torch.Tensor:
    """Sample coordinates along one axis: ``samples`` evenly spaced points
    in each of ``bins`` equal bins of each RoI.

    Args:
        starts (Tensor): RoI starts, shape ``(n,)``.
        sizes (Tensor): RoI extents, shape ``(n,)``.
        bins (int): pooled bins along the axis.
        samples (int): samples per bin.

    Returns:
        Tensor: ``(n, bins, samples)`` coordinates.
    """
    bin_size = (sizes / bins)[:, None, None]
    bin_index = torch.arange(bins, dtype=starts.dtype, device=starts.device)
    offsets = (torch.arange(samples, dtype=starts.dtype,
                            device=starts.device) + 0.5) / samples
    # start + bin * bin_size + (i + .5) * bin_size / samples, as mmcv orders
    # the terms.
    return (starts[:, None, None] + bin_index[None, :, None] * bin_size +
            offsets[None, None, :] * bin_size)


def linear_interpolation_taps(
        coords: torch.Tensor, size: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two pixels and weights that interpolate each coordinate on one
    axis, with mmcv's border rules: a point more than one pixel outside
    ``[0, size - 1]`` gets zero weight; otherwise it is clamped into it.

    Args:
        coords (Tensor): coordinates, shape ``(n, ...)``.
        size (Tensor): map extent along the axis for each RoI, ``(n,)``.

    Returns:
        tuple: ``(low, high, low_weight, high_weight)`` shaped like
        ``coords``; indices are long.
    """
    size = size.view(-1, *([1] * (coords.dim() - 1))).to(coords.dtype)
    inside = (coords >= -1) & (coords <= size)
    coords = coords.clamp(min=0)
    low = torch.minimum(coords.floor(), size - 1)
    high = torch.minimum(low + 1, size - 1)
    coords = torch.where(low >= size - 1, low, coords)
    high_weight = (coords - low) * inside
    low_weight = (1 - (coords - low)) * inside
    return low.long(), high.long(), low_weight, high_weight


def roi_align_matrix(boxes: torch.Tensor, map_hw: torch.Tensor,
                     map_offsets: torch.Tensor, num_pixels: int,
                     output_size: Tuple[int, int],
                     sampling_ratio: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The sparse matrix of average-pooled bilinear sampling weights.

    Args:
        boxes (Tensor): ``(n, 4)`` RoIs ``x1, y1, x2, y2`` in the pixel
            coordinates of the map each one samples (scaled and shifted).
        map_hw (Tensor): ``(n, 2)`` long, height and width of that map.
        map_offsets (Tensor): ``(n,)`` long, row of the map's first pixel
            in the stacked channels-last pixel matrix.
        num_pixels (int): rows of the stacked pixel matrix.
        output_size (tuple[int, int]): pooled ``(height, width)``.
        sampling_ratio (int): samples per bin side; 0 for adaptive.

    Returns:
        tuple: ``(matrix, order)``: a CSR matrix of shape
        ``(n * out_h * out_w, num_pixels)`` whose rows are the bins of the
        RoIs ``order`` (RoIs sharing a sampling grid are grouped), bin-major
        within each RoI.
    """
    out_h, out_w = output_size
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    grids = sampling_grid_sizes(heights, widths, output_size, sampling_ratio)
    groups, group_of = torch.unique(grids, dim=0, return_inverse=True)
    orders, row_lengths, columns, weights = [], [], [], []
    for group_id, (sy, sx) in enumerate(groups.tolist()):
        index = torch.nonzero(group_of == group_id).squeeze(1)
        orders.append(index)
        if sy == 0 or sx == 0:  # an empty RoI pools to zeros, as in mmcv
            row_lengths.append(index.new_zeros(len(index) * out_h * out_w))
            continue
        n = len(index)
        ys = bin_sample_points(boxes[index, 1], heights[index], out_h, sy)
        xs = bin_sample_points(boxes[index, 0], widths[index], out_w, sx)
        y_taps = linear_interpolation_taps(ys, map_hw[index, 0])
        x_taps = linear_interpolation_taps(xs, map_hw[index, 1])
        row_start = map_offsets[index].view(n, 1, 1)
        stride = map_hw[index, 1].view(n, 1, 1)
        # Each tap pair spans (n, out_h, out_w, sy, sx): y terms broadcast
        # over (n, out_h, 1, sy, 1), x terms over (n, 1, out_w, 1, sx).
        cols, vals = [], []
        for y_index, y_weight in ((y_taps[0], y_taps[2]),
                                  (y_taps[1], y_taps[3])):
            y_rows = (row_start + y_index * stride)[:, :, None, :, None]
            for x_index, x_weight in ((x_taps[0], x_taps[2]),
                                      (x_taps[1], x_taps[3])):
                cols.append(y_rows + x_index[:, None, :, None, :])
                vals.append(y_weight[:, :, None, :, None] *
                            x_weight[:, None, :, None, :] / (sy * sx))
        # (n, out_h, out_w, sy, sx, 4) -> one row of sy * sx * 4 per bin
        columns.append(torch.stack(cols, -1).reshape(-1))
        weights.append(torch.stack(vals, -1).reshape(-1))
        row_lengths.append(index.new_full((n * out_h * out_w, ),
                                          sy * sx * 4))
    lengths = torch.cat(row_lengths)
    crow = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
    with warnings.catch_warnings():  # torch calls sparse CSR 'beta'
        warnings.simplefilter('ignore', UserWarning)
        matrix = torch.sparse_csr_tensor(
            crow,
            torch.cat(columns) if columns else crow.new_zeros(0),
            torch.cat(weights) if weights else boxes.new_zeros(0),
            size=(len(lengths), num_pixels),
            dtype=boxes.dtype)
    return matrix, torch.cat(orders)


def csr_transpose(matrix: torch.Tensor) -> torch.Tensor:
    """The transpose of a CSR matrix, as a CSR matrix (one stable sort of
    the column indices; torch's own conversion is several times slower)."""
    rows, cols = matrix.shape
    crow, col, values = (matrix.crow_indices(), matrix.col_indices(),
                         matrix.values())
    row_of_entry = torch.repeat_interleave(
        torch.arange(rows, device=crow.device), crow.diff())
    order = torch.argsort(col, stable=True)
    counts = torch.bincount(col, minlength=cols)
    crow_t = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    with warnings.catch_warnings():  # torch calls sparse CSR 'beta'
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow_t, row_of_entry[order],
                                       values[order], size=(cols, rows))


class _SparseProduct(torch.autograd.Function):
    """``matrix @ dense`` with the gradient ``matrix^T @ grad`` for the dense
    side only (the sampling weights carry no gradient, as in mmcv)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, dense: torch.Tensor):
        ctx.save_for_backward(matrix)
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        matrix, = ctx.saved_tensors
        return None, torch.sparse.mm(csr_transpose(matrix), grad.contiguous())


def multilevel_roi_align(feats: Sequence[torch.Tensor], rois: torch.Tensor,
                         levels: torch.Tensor, spatial_scales: List[float],
                         output_size: Tuple[int, int], sampling_ratio: int,
                         aligned: bool = True) -> torch.Tensor:
    """Average-pooled RoIAlign of each RoI on its own pyramid level.

    Args:
        feats (Sequence[Tensor]): the levels, each ``(N, C, H_l, W_l)``.
        rois (Tensor): ``(n, 5)`` rows ``(batch_index, x1, y1, x2, y2)`` in
            image coordinates.
        levels (Tensor): ``(n,)`` level of each RoI.
        spatial_scales (list[float]): image-to-feature scale of each level.
        output_size (tuple[int, int]): pooled ``(height, width)``.
        sampling_ratio (int): samples per bin side; 0 for adaptive.
        aligned (bool): shift by half a pixel (Detectron2's alignment).

    Returns:
        Tensor: ``(n, C, out_h, out_w)``, what mmcv's ``roi_align`` returns
        for each RoI on its level.
    """
    num_images, channels = feats[0].shape[:2]
    out_h, out_w = output_size
    if len(rois) == 0:
        return feats[0].new_zeros(0, channels, out_h, out_w)
    # Every level's pixels as rows: (sum_l N * H_l * W_l, C).
    pixels = torch.cat(
        [f.permute(0, 2, 3, 1).reshape(-1, channels) for f in feats])
    hw = torch.tensor([f.shape[-2:] for f in feats], device=rois.device)
    level_starts = torch.cumsum(
        torch.tensor([0] + [f[0, 0].numel() * num_images for f in feats]),
        0).to(rois.device)
    rois = rois.detach().to(pixels.dtype)
    levels = levels.long()
    scales = rois.new_tensor(spatial_scales)[levels, None]
    boxes = rois[:, 1:] * scales - (0.5 if aligned else 0.0)
    if aligned:
        if bool(((boxes[:, 2:] - boxes[:, :2]) < 0).any()):
            raise ValueError('RoIAlign got boxes with negative width or '
                             'height (x2 < x1 or y2 < y1)')
    else:  # mmcv's legacy behaviour: RoIs at least one pixel wide
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    map_hw = hw[levels]
    offsets = (level_starts[levels] +
               rois[:, 0].long() * map_hw[:, 0] * map_hw[:, 1])
    matrix, order = roi_align_matrix(boxes, map_hw, offsets, len(pixels),
                                     output_size, sampling_ratio)
    pooled = _SparseProduct.apply(matrix, pixels)  # (n * out_h * out_w, C)
    pooled = pooled.view(len(rois), out_h, out_w, channels)
    output = pooled.new_empty(pooled.shape).index_copy(0, order, pooled)
    return output.permute(0, 3, 1, 2).contiguous()
