"""Position modules that a backbone computes once per forward pass and hands
to its blocks as keyword arguments.

A shared BEiT-style relative-position table (:class:`RelativePositionTable`)
gives the offset grid of the token grid in use; the attention layer turns it
into its ``attn_mask`` (:meth:`~.attention.Attention.table_bias`), once, for
every block of its kind. Per-block decomposed relative positions (ViTDet,
SAM) live in :class:`~.attention.Attention` under their published names; the
absolute embedding is a parameter of the backbone, resized to each input
(:func:`~.vit_geometry.resize_abs_pos_embed`).
"""
from typing import Tuple

import torch
import torch.nn as nn

from .vit_geometry import (NUM_CLS_RELATIVE_ENTRIES, relative_offset_grid,
                           relative_table_size)

#: Relative-position parameters, which start at zero and get no weight
#: decay: BEiT-style tables, ViTDet's / SAM's decomposed embeddings.
RELATIVE_POSITION_PARAMETERS = ('relative_position_bias_table', 'rel_pos_h',
                                'rel_pos_w')


class RelativePositionTable(nn.Module):
    """One BEiT-style relative-position table, shared by several blocks.

    Args:
        table_hw (tuple): grid the table is made for.
        num_heads (int): attention heads.
        num_cls_rows (int): trailing cls rows (3 as BEiT, 0 as HiViT).

    Attributes:
        num_bias_builds (int): offset grids made from the table so far; one
            per forward pass.
    """

    def __init__(self, table_hw: Tuple[int, int], num_heads: int,
                 num_cls_rows: int = NUM_CLS_RELATIVE_ENTRIES):
        super().__init__()
        self.table_hw = tuple(table_hw)
        self.num_cls_rows = num_cls_rows
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(relative_table_size(table_hw, num_cls_rows),
                        num_heads))
        self.num_bias_builds = 0

    def forward(self, hw: Tuple[int, int]) -> torch.Tensor:
        """The offset grid ``(heads, 2H - 1, 2W - 1)`` for tokens on grid
        ``hw``, the table resized to it."""
        self.num_bias_builds += 1
        return relative_offset_grid(self.relative_position_bias_table,
                                    self.table_hw, hw, self.num_cls_rows)
