"""Pure tensor functions for the ViT and iTPN detection backbones.

Everything here is stateless geometry: window partitioning, position-embedding
resizing and relative-position tables and biases (BEiT's tables end in three
cls rows, HiViT's have none: ``num_cls_rows``). The backbones only wire these
together, and the tests check each one on its own.

Token maps are channels-last, ``(B, H, W, C)``, as inside the transformer.
"""
import math
from typing import Tuple

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


def abs_pos_embed_grid(pos_embed: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The square grid and the leading token slots of an absolute position
    embedding in any published layout.

    Args:
        pos_embed (Tensor): ``(1, H, W, C)`` (SAM), ``(1, E + S*S, C)``
            (timm, DINOv2, DeiT III, MAE: ``E`` = 0-2 slots for cls and
            distillation tokens) or ``(E + S*S, C)`` (CLIP).

    Returns:
        tuple: the grid ``(1, H, W, C)`` and the slots ``(1, E, C)``.
    """
    if pos_embed.dim() == 4:
        return pos_embed, pos_embed.new_zeros(1, 0, pos_embed.shape[-1])
    flat = pos_embed.unsqueeze(0) if pos_embed.dim() == 2 else pos_embed
    n = flat.shape[1] if flat.dim() == 3 and flat.shape[0] == 1 else 0
    extra = next((e for e in range(min(n, 3))
                  if math.isqrt(n - e)**2 == n - e and n > e), None)
    if extra is None:
        raise ValueError(
            f'a position embedding of shape {tuple(pos_embed.shape)} is not '
            f'a square grid after 0-2 token slots ((1, E + S*S, C), '
            f'(E + S*S, C)) nor a (1, H, W, C) map')
    side = math.isqrt(n - extra)
    return (flat[:, extra:].reshape(1, side, side, -1), flat[:, :extra])


def fit_abs_pos_embed(pos_embed: torch.Tensor,
                      shape: Tuple[int, ...]) -> torch.Tensor:
    """An absolute position embedding in any published layout (see
    :func:`abs_pos_embed_grid`), fitted to a model's stored shape.

    Args:
        pos_embed (Tensor): the embedding as published.
        shape (tuple): the model's ``(1, slots + T*T, C)``, with one slot
            (the ViT's cls slot, never read) or none (iTPN).

    Returns:
        Tensor: of ``shape``; the grid resized bicubically, the slot taken
        from the embedding's first one, or zero.
    """
    grid, extra = abs_pos_embed_grid(pos_embed)
    if grid.shape[1] != grid.shape[2] or grid.shape[-1] != shape[-1]:
        raise ValueError(
            f'a position embedding grid of {grid.shape[1]}x{grid.shape[2]} '
            f'with {grid.shape[-1]} channels does not fit a model storing '
            f'a square grid of {shape[-1]} channels')
    slots = 0 if math.isqrt(shape[1])**2 == shape[1] else 1
    side = math.isqrt(shape[1] - slots)
    # (1, H, W, C) -> (1, T, T, C) -> (1, T*T, C)
    fitted = resize_abs_pos_embed(
        grid.reshape(1, -1, grid.shape[-1]), (side, side),
        num_extra_tokens=0).reshape(1, side * side, -1)
    if slots:
        slot = extra[:, :1] if extra.shape[1] else fitted.new_zeros(
            1, 1, fitted.shape[-1])
        fitted = torch.cat([slot, fitted], dim=1)
    return fitted


def relative_table_size(hw: Tuple[int, int],
                        num_cls_rows: int = NUM_CLS_RELATIVE_ENTRIES) -> int:
    """Rows of a relative-position table for grid ``hw``: one per 2-D offset,
    ``(2H - 1) * (2W - 1)``, plus ``num_cls_rows`` (3 for BEiT, 0 for
    HiViT)."""
    H, W = hw
    return (2 * H - 1) * (2 * W - 1) + num_cls_rows


def relative_table_grid(num_rows: int,
                        num_cls_rows: int = NUM_CLS_RELATIVE_ENTRIES
                        ) -> Tuple[int, int]:
    """Square grid ``(S, S)`` a relative-position table of ``num_rows`` rows
    is made for; ValueError when the rows fit none."""
    side = (math.isqrt(max(num_rows - num_cls_rows, 0)) + 1) // 2
    if side < 1 or relative_table_size((side, side),
                                       num_cls_rows) != num_rows:
        raise ValueError(f'a relative table with {num_rows} rows fits no '
                         f'square grid ((2S-1)^2 + {num_cls_rows} rows)')
    return side, side


def _check_table(table: torch.Tensor, hw: Tuple[int, int],
                 num_cls_rows: int) -> None:
    if table.shape[0] != relative_table_size(hw, num_cls_rows):
        raise ValueError(
            f'a relative table for grid {tuple(hw)} has '
            f'{relative_table_size(hw, num_cls_rows)} rows, got '
            f'{table.shape[0]}')


def resize_offset_rows(offsets: torch.Tensor, src_hw: Tuple[int, int],
                       dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Resize the offset rows of a relative-position table to another grid,
    treating them as a ``(2H - 1, 2W - 1)`` image per head (bicubic).

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


def resize_relative_table(table: torch.Tensor, src_hw: Tuple[int, int],
                          dst_hw: Tuple[int, int],
                          num_cls_rows: int = NUM_CLS_RELATIVE_ENTRIES
                          ) -> torch.Tensor:
    """Resize a relative-position table to another grid: its offset rows
    bicubically (:func:`resize_offset_rows`), its cls rows kept as they are.

    Args:
        table (Tensor): ``(relative_table_size(src_hw), num_heads)``.
        src_hw (tuple): grid the table was made for.
        dst_hw (tuple): grid the result is for.
        num_cls_rows (int): trailing cls rows (3 for BEiT, 0 for HiViT).

    Returns:
        Tensor: ``(relative_table_size(dst_hw), num_heads)``.
    """
    _check_table(table, src_hw, num_cls_rows)
    if tuple(src_hw) == tuple(dst_hw):
        return table
    split = table.shape[0] - num_cls_rows
    offsets = resize_offset_rows(table[:split], src_hw, dst_hw)
    return torch.cat([offsets, table[split:]], dim=0)


def relative_offset_grid(table: torch.Tensor,
                         table_hw: Tuple[int, int],
                         hw: Tuple[int, int],
                         num_cls_rows: int = NUM_CLS_RELATIVE_ENTRIES
                         ) -> torch.Tensor:
    """The offset rows of a relative-position table, resized to the token
    grid ``hw``, as a ``(num_heads, 2H - 1, 2W - 1)`` grid: query
    ``(y, x)`` and key ``(y', x')`` read entry ``(y - y' + H - 1,
    x - x' + W - 1)``. The cls rows are unused (no cls token).

    Args:
        table (Tensor): ``(relative_table_size(table_hw), num_heads)``.
        table_hw (tuple): grid the table was made for.
        hw (tuple): grid of the tokens that attend to each other.
        num_cls_rows (int): trailing cls rows (3 for BEiT, 0 for HiViT).
    """
    _check_table(table, table_hw, num_cls_rows)
    H, W = hw
    offsets = resize_offset_rows(table[:table.shape[0] - num_cls_rows],
                                 table_hw, hw)
    # ((2H-1)*(2W-1), heads) -> (heads, 2H-1, 2W-1)
    return offsets.T.reshape(-1, 2 * H - 1, 2 * W - 1)


def offset_grid_bias(grid: torch.Tensor) -> torch.Tensor:
    """The attention bias ``(num_heads, H * W, H * W)`` of an offset grid
    ``(num_heads, 2H - 1, 2W - 1)`` (:func:`relative_offset_grid`).

    Indexed by the two 1-D offsets, so no ``(N, N)`` index tensor is made.
    """
    H, W = (grid.shape[1] + 1) // 2, (grid.shape[2] + 1) // 2
    ys = torch.arange(H, device=grid.device)
    xs = torch.arange(W, device=grid.device)
    dy = ys[:, None] - ys[None, :] + H - 1  # (H, H): y - y' + H - 1
    dx = xs[:, None] - xs[None, :] + W - 1  # (W, W)
    # (heads, H, W, H', W') -> (heads, H*W, H'*W')
    bias = grid[:, dy[:, None, :, None], dx[None, :, None, :]]
    return bias.reshape(grid.shape[0], H * W, H * W)


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
