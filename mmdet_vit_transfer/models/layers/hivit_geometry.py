"""Pure tensor functions for the HiViT / iTPN backbone.

HiViT keeps one relative-position table per attention block, laid out like
BEiT's (one row per 2-D offset of a ``(2H - 1, 2W - 1)`` grid, row-major)
but without BEiT's three cls rows: the whole table is what
:mod:`.vit_geometry` calls the offset rows.
"""
import math
from typing import Tuple

import torch

from .vit_geometry import (offset_grid_bias, offset_rows_grid,
                           resize_offset_rows)


def hivit_table_size(hw: Tuple[int, int]) -> int:
    """Rows of a HiViT relative-position table for grid ``hw``:
    ``(2H - 1) * (2W - 1)``."""
    H, W = hw
    return (2 * H - 1) * (2 * W - 1)


def hivit_table_grid(num_rows: int) -> Tuple[int, int]:
    """Square grid ``(S, S)`` a HiViT table of ``num_rows`` rows is made for.

    Raises:
        ValueError: ``num_rows`` is not ``(2S - 1)^2`` for any S.
    """
    side = (math.isqrt(num_rows) + 1) // 2
    if side < 1 or hivit_table_size((side, side)) != num_rows:
        raise ValueError(f'a HiViT relative table with {num_rows} rows fits '
                         f'no square grid ((2S-1)^2 rows)')
    return side, side


def resize_hivit_table(table: torch.Tensor, src_hw: Tuple[int, int],
                       dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Resize a HiViT relative-position table to another grid.

    The offsets are treated as a ``(2H - 1, 2W - 1)`` image per head and
    resized bicubically (:func:`.vit_geometry.resize_offset_rows`).

    Args:
        table (Tensor): ``(hivit_table_size(src_hw), num_heads)``.
        src_hw (tuple): grid the table was made for.
        dst_hw (tuple): grid the result is for.

    Returns:
        Tensor: ``(hivit_table_size(dst_hw), num_heads)``.
    """
    if table.shape[0] != hivit_table_size(src_hw):
        raise ValueError(
            f'a HiViT relative table for grid {tuple(src_hw)} has '
            f'{hivit_table_size(src_hw)} rows, got {table.shape[0]}')
    return resize_offset_rows(table, src_hw, dst_hw)


def hivit_offset_grid(table: torch.Tensor, table_hw: Tuple[int, int],
                      hw: Tuple[int, int]) -> torch.Tensor:
    """A HiViT relative-position table, resized to the token grid ``hw``,
    as the ``(num_heads, 2H - 1, 2W - 1)`` offset grid of its bias.

    Args:
        table (Tensor): ``(hivit_table_size(table_hw), num_heads)``.
        table_hw (tuple): grid the table was made for.
        hw (tuple): grid of the tokens that attend to each other; the table
            is resized when it differs from ``table_hw``.
    """
    if table.shape[0] != hivit_table_size(table_hw):
        raise ValueError(
            f'a HiViT relative table for grid {tuple(table_hw)} has '
            f'{hivit_table_size(table_hw)} rows, got {table.shape[0]}')
    return offset_rows_grid(resize_offset_rows(table, table_hw, hw), hw)


def hivit_relative_position_bias(table: torch.Tensor,
                                 table_hw: Tuple[int, int],
                                 hw: Tuple[int, int]) -> torch.Tensor:
    """Additive attention bias ``(num_heads, H * W, H * W)`` from a HiViT
    relative-position table (see :func:`hivit_offset_grid`)."""
    return offset_grid_bias(hivit_offset_grid(table, table_hw, hw))
