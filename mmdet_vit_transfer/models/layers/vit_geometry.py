"""Pure tensor functions for plain-ViT detection backbones.

Everything here is stateless geometry: window partitioning, position-embedding
resizing and relative-position biases. The modules in
:mod:`mmdet_vit_transfer.models.backbones.plain_vit` only wire these together,
and the tests check each one on its own.

Token maps are channels-last, ``(B, H, W, C)``, as inside the transformer.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

#: BEiT keeps three extra rows at the end of its relative-position table for
#: the cls token (cls->token, token->cls, cls->cls).
NUM_CLS_RELATIVE_ENTRIES = 3


def window_partition(x: torch.Tensor,
                     window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split a token map into non-overlapping windows, zero-padding the grid.

    Args:
        x (Tensor): ``(B, H, W, C)`` token map.
        window_size (int): side of a square window.

    Returns:
        tuple: windows ``(B * num_windows, window_size, window_size, C)`` and
        the padded grid size ``(Hp, Wp)``.
    """
    B, H, W, C = x.shape
    pad_h = (window_size - H % window_size) % window_size
    pad_w = (window_size - W % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    # (B, Hp/ws, ws, Wp/ws, ws, C) -> (B, Hp/ws, Wp/ws, ws, ws, C)
    x = x.view(B, Hp // window_size, window_size, Wp // window_size,
               window_size, C)
    windows = x.transpose(2, 3).reshape(-1, window_size, window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int,
                       padded_hw: Tuple[int, int],
                       hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: reassemble and crop the padding.

    Args:
        windows (Tensor): ``(B * num_windows, window_size, window_size, C)``.
        window_size (int): side of a square window.
        padded_hw (tuple): grid size after padding ``(Hp, Wp)``.
        hw (tuple): original grid size ``(H, W)``.

    Returns:
        Tensor: ``(B, H, W, C)`` token map.
    """
    Hp, Wp = padded_hw
    H, W = hw
    B = windows.shape[0] // ((Hp // window_size) * (Wp // window_size))
    # (B, Hp/ws, Wp/ws, ws, ws, C) -> (B, Hp/ws, ws, Wp/ws, ws, C)
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size,
                     window_size, -1)
    x = x.transpose(2, 3).reshape(B, Hp, Wp, -1)
    if Hp > H or Wp > W:
        x = x[:, :H, :W, :]
    return x


def resize_abs_pos_embed(pos_embed: torch.Tensor, hw: Tuple[int, int],
                         num_extra_tokens: int = 1) -> torch.Tensor:
    """Absolute position embedding for a token grid of any size.

    The embedding stays stored at its pre-training size (a square grid plus
    ``num_extra_tokens`` leading slots, e.g. the cls token) and is resized
    bicubically to the current grid; the extra slots are dropped because
    detection uses no cls token.

    Args:
        pos_embed (Tensor): ``(1, num_extra_tokens + S * S, C)``.
        hw (tuple): target grid ``(H, W)``.
        num_extra_tokens (int): leading slots that are not grid positions.

    Returns:
        Tensor: ``(1, H, W, C)``.
    """
    grid = pos_embed[:, num_extra_tokens:]
    size = math.isqrt(grid.shape[1])
    if size * size != grid.shape[1]:
        raise ValueError(
            f'pos_embed holds {grid.shape[1]} grid positions after '
            f'{num_extra_tokens} extra token(s), which is not a square grid')
    # (1, S*S, C) -> (1, C, S, S)
    grid = grid.reshape(1, size, size, -1).permute(0, 3, 1, 2)
    if (size, size) != tuple(hw):
        grid = F.interpolate(
            grid, size=hw, mode='bicubic', align_corners=False)
    return grid.permute(0, 2, 3, 1)


def relative_table_size(hw: Tuple[int, int]) -> int:
    """Number of rows of a BEiT relative-position table for grid ``hw``."""
    H, W = hw
    return (2 * H - 1) * (2 * W - 1) + NUM_CLS_RELATIVE_ENTRIES


def resize_relative_table(table: torch.Tensor, src_hw: Tuple[int, int],
                          dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Resize a BEiT relative-position table to another grid.

    The offset part is treated as a ``(2H - 1, 2W - 1)`` image per head and
    resized bicubically; the cls rows are kept as they are.

    Args:
        table (Tensor): ``(relative_table_size(src_hw), num_heads)``.
        src_hw (tuple): grid the table was made for.
        dst_hw (tuple): grid the result is for.

    Returns:
        Tensor: ``(relative_table_size(dst_hw), num_heads)``.
    """
    if table.shape[0] != relative_table_size(src_hw):
        raise ValueError(
            f'a relative table for grid {tuple(src_hw)} has '
            f'{relative_table_size(src_hw)} rows, got {table.shape[0]}')
    if tuple(src_hw) == tuple(dst_hw):
        return table
    offsets = resize_offset_rows(table[:-NUM_CLS_RELATIVE_ENTRIES], src_hw,
                                 dst_hw)
    return torch.cat([offsets, table[-NUM_CLS_RELATIVE_ENTRIES:]], dim=0)


def resize_offset_rows(offsets: torch.Tensor, src_hw: Tuple[int, int],
                       dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Resize the offset rows of a relative-position table (BEiT's without
    its cls rows, or HiViT's) to another grid.

    The rows are treated as a ``(2H - 1, 2W - 1)`` image per head and
    resized bicubically.

    Args:
        offsets (Tensor): ``((2H - 1) * (2W - 1), num_heads)`` for ``src_hw``.
        src_hw (tuple): grid the rows were made for.
        dst_hw (tuple): grid the result is for.

    Returns:
        Tensor: the rows for ``dst_hw``; ``offsets`` itself when the grids
        are the same.
    """
    if tuple(src_hw) == tuple(dst_hw):
        return offsets
    num_heads = offsets.shape[1]
    # (Ls, heads) -> (1, heads, 2H-1, 2W-1)
    grid = offsets.T.reshape(1, num_heads, 2 * src_hw[0] - 1,
                             2 * src_hw[1] - 1)
    grid = F.interpolate(
        grid,
        size=(2 * dst_hw[0] - 1, 2 * dst_hw[1] - 1),
        mode='bicubic',
        align_corners=False)
    return grid.reshape(num_heads, -1).T


def offset_grid_windows(grid: torch.Tensor) -> torch.Tensor:
    """The windows of an offset grid that its bias rows are copied from.

    ``windows[h, a, x, x'] = grid[h, 2H - 2 - a, W - 1 + x - x']``: the
    bias row of query ``(y, x)`` is ``windows[:, H - 1 - y:2H - 1 - y, x]``
    (see :func:`windows_bias_rows`). Made once, it serves every block of
    rows; :func:`offset_grid_grad` is its adjoint.

    Args:
        grid (Tensor): ``(num_heads, 2H - 1, 2W - 1)``.

    Returns:
        Tensor: ``(num_heads, 2H - 1, W, W)``, contiguous.
    """
    W = (grid.shape[2] + 1) // 2
    # flipped[h, a, c] is the bias for (y' - y, x' - x) = (a - H + 1,
    # c - W + 1); windows[h, a, x, x'] = flipped[h, a, x' - x + W - 1].
    return grid.flip(1, 2).unfold(2, W, 1).flip(2).contiguous()


def windows_bias_rows(windows: torch.Tensor,
                      rows: Tuple[int, int],
                      out: Optional[torch.Tensor] = None,
                      minus: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Query rows ``rows = (y0, y1)`` of the bias of an offset grid, from
    its :func:`offset_grid_windows`.

    ``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``
    for ``y0 <= y < y1``, copied into a contiguous result (no index
    tensor). Autograd would record every row copy: :func:`add_bias_rows_grad`
    is the adjoint, and :func:`offset_grid_bias` the differentiable whole
    bias.

    Args:
        windows (Tensor): ``(num_heads, 2H - 1, W, W)``.
        rows (tuple): first and past-the-last grid row ``y`` of the queries.
        out (Tensor, optional): contiguous tensor to write into (a buffer
            reused from call to call), of at least as many elements as the
            result.
        minus (Tensor, optional): ``(B, num_heads, (y1 - y0) * W)``,
            subtracted from each query's row as it is written (the rows of
            ``B`` images then).

    Returns:
        Tensor: ``(num_heads, (y1 - y0) * W, H * W)``, contiguous; with
        ``minus``, ``(B, num_heads, (y1 - y0) * W, H * W)``.
    """
    heads, H = windows.shape[0], (windows.shape[1] + 1) // 2
    W = windows.shape[2]
    y0, y1 = rows
    lead = (heads, ) if minus is None else tuple(minus.shape[:2])
    shape = lead + (y1 - y0, W, H, W)
    if out is not None and out.numel() < math.prod(shape):
        raise ValueError(f'rows {tuple(shape)} do not fit in a buffer of '
                         f'{out.numel()} elements')
    bias = (windows.new_empty(shape) if out is None else
            out.view(-1)[:math.prod(shape)].view(shape))
    if minus is not None:
        minus = minus.reshape(lead + (y1 - y0, W, 1, 1))
    for y in range(y0, y1):
        # (heads, y', x, x') -> (heads, x, y', x')
        row = windows[:, H - 1 - y:2 * H - 1 - y].transpose(1, 2)
        if minus is None:
            bias[:, y - y0] = row
        else:
            torch.sub(row, minus[:, :, y - y0], out=bias[:, :, y - y0])
    return bias.view(lead + ((y1 - y0) * W, H * W))


def offset_grid_bias_rows(grid: torch.Tensor,
                          rows: Tuple[int, int],
                          out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Query rows ``rows = (y0, y1)`` of the bias of an offset grid
    ``(num_heads, 2H - 1, 2W - 1)``: :func:`windows_bias_rows` of its
    :func:`offset_grid_windows`."""
    return windows_bias_rows(offset_grid_windows(grid), rows, out)


def add_bias_rows_grad(grad_windows: torch.Tensor, grad: torch.Tensor,
                       rows: Tuple[int, int]) -> None:
    """Add the gradient of bias rows ``rows = (y0, y1)``, as made by
    :func:`windows_bias_rows`, into the windows' gradient ``grad_windows``.

    Args:
        grad_windows (Tensor): ``(num_heads, 2H - 1, W, W)`` accumulator;
            :func:`offset_grid_grad` turns it into the grid's gradient.
        grad (Tensor): ``(num_heads, (y1 - y0) * W, H * W)``.
        rows (tuple): the grid rows of the queries.
    """
    heads, _, W, _ = grad_windows.shape
    H = (grad_windows.shape[1] + 1) // 2
    y0, y1 = rows
    grad = grad.reshape(heads, y1 - y0, W, H, W)
    for y in range(y0, y1):
        grad_windows[:, H - 1 - y:2 * H - 1 - y].transpose(1, 2).add_(
            grad[:, y - y0])


def offset_grid_grad(grad_windows: torch.Tensor) -> torch.Tensor:
    """The offset grid's gradient ``(num_heads, 2H - 1, 2W - 1)`` from its
    windows' gradient (the adjoint of :func:`offset_grid_windows`)."""
    heads, rows, W, _ = grad_windows.shape
    grad_flipped = grad_windows.new_zeros(heads, rows, 2 * W - 1)
    for x in range(W):
        grad_flipped[..., W - 1 - x:2 * W - 1 - x].add_(grad_windows[:, :,
                                                                     x])
    return grad_flipped.flip(1, 2)


class _OffsetGridToBias(torch.autograd.Function):
    """``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``.

    A gather through an ``(N, N)`` index needs an index tensor of ``N^2``
    entries (134 MB at N = 4096), leaves a strided result that the fused
    attention kernel reads slowly, and is a scatter-add in the backward
    pass. Every query row of the bias is a window of the flipped offset
    grid, so the forward pass copies windows into a contiguous result and
    the backward pass adds them back, one row of queries at a time.
    """

    @staticmethod
    def forward(ctx, grid):
        H, W = (grid.shape[1] + 1) // 2, (grid.shape[2] + 1) // 2
        ctx.hw = H, W
        return offset_grid_bias_rows(grid, (0, H))

    @staticmethod
    def backward(ctx, grad):
        H, W = ctx.hw
        grad_windows = grad.new_zeros(grad.shape[0], 2 * H - 1, W, W)
        add_bias_rows_grad(grad_windows, grad, (0, H))
        return offset_grid_grad(grad_windows)


def offset_grid_bias(grid: torch.Tensor) -> torch.Tensor:
    """The whole bias ``(num_heads, H * W, H * W)`` of an offset grid
    ``(num_heads, 2H - 1, 2W - 1)``, contiguous and differentiable."""
    return _OffsetGridToBias.apply(grid)


def offset_rows_grid(offsets: torch.Tensor,
                     hw: Tuple[int, int]) -> torch.Tensor:
    """The offset rows of a relative table as the ``(num_heads, 2H - 1,
    2W - 1)`` grid of :func:`offset_grid_bias`.

    Query ``(y, x)`` and key ``(y', x')`` read the row for the offset
    ``(y - y', x - x')``; the rows are a row-major ``(2H - 1, 2W - 1)`` grid.

    Args:
        offsets (Tensor): ``((2H - 1) * (2W - 1), num_heads)``.
        hw (tuple): grid ``(H, W)`` of the tokens that attend to each other.
    """
    H, W = hw
    return offsets.T.reshape(-1, 2 * H - 1, 2 * W - 1)


def relative_offset_grid(table: torch.Tensor, table_hw: Tuple[int, int],
                         hw: Tuple[int, int]) -> torch.Tensor:
    """The offset rows of a BEiT relative-position table, resized to the
    token grid ``hw``, as a ``(num_heads, 2H - 1, 2W - 1)`` grid (the cls
    rows are unused); :func:`offset_grid_bias_rows` turns it into bias
    rows."""
    if table.shape[0] != relative_table_size(table_hw):
        raise ValueError(
            f'a relative table for grid {tuple(table_hw)} has '
            f'{relative_table_size(table_hw)} rows, got {table.shape[0]}')
    return offset_rows_grid(
        resize_offset_rows(table[:-NUM_CLS_RELATIVE_ENTRIES], table_hw, hw),
        hw)


def relative_position_bias(table: torch.Tensor, table_hw: Tuple[int, int],
                           hw: Tuple[int, int]) -> torch.Tensor:
    """Additive attention bias from a BEiT relative-position table.

    Args:
        table (Tensor): ``(relative_table_size(table_hw), num_heads)``.
        table_hw (tuple): grid the table was made for.
        hw (tuple): grid of the tokens that attend to each other; the table
            is resized when it differs from ``table_hw``.

    Returns:
        Tensor: ``(num_heads, H * W, H * W)``, contiguous.
    """
    return offset_grid_bias(relative_offset_grid(table, table_hw, hw))


def resize_decomposed_rel_pos(rel_pos: torch.Tensor,
                              length: int) -> torch.Tensor:
    """Resize a 1-D relative-position embedding ``(L, C)`` to ``length`` rows
    (linear interpolation, as ViTDet)."""
    if rel_pos.shape[0] == length:
        return rel_pos
    resized = F.interpolate(
        rel_pos.T.unsqueeze(0), size=length, mode='linear')
    return resized.squeeze(0).T


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor,
                            rel_pos_w: torch.Tensor,
                            hw: Tuple[int, int]) -> torch.Tensor:
    """ViTDet's decomposed relative-position bias (MViTv2).

    Args:
        q (Tensor): queries ``(B, num_heads, H * W, head_dim)``.
        rel_pos_h (Tensor): ``(L_h, head_dim)`` embedding along the height.
        rel_pos_w (Tensor): ``(L_w, head_dim)`` embedding along the width.
        hw (tuple): grid ``(H, W)`` of queries and keys.

    Returns:
        Tensor: additive bias ``(B, num_heads, H * W, H * W)``.
    """
    H, W = hw
    B, num_heads, _, head_dim = q.shape
    Rh = _relative_lookup(rel_pos_h, H)  # (H, H, head_dim)
    Rw = _relative_lookup(rel_pos_w, W)  # (W, W, head_dim)
    r_q = q.reshape(B, num_heads, H, W, head_dim)
    rel_h = torch.einsum('bnhwc,hkc->bnhwk', r_q, Rh)
    rel_w = torch.einsum('bnhwc,wkc->bnhwk', r_q, Rw)
    bias = rel_h[..., :, None] + rel_w[..., None, :]  # (B, n, H, W, H, W)
    return bias.reshape(B, num_heads, H * W, H * W)


def _relative_lookup(rel_pos: torch.Tensor, size: int) -> torch.Tensor:
    """Rows of ``rel_pos`` for every (query, key) offset on a 1-D axis."""
    rel_pos = resize_decomposed_rel_pos(rel_pos, 2 * size - 1)
    coords = torch.arange(size, device=rel_pos.device)
    return rel_pos[coords[:, None] - coords[None, :] + size - 1]
