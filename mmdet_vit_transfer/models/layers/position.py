"""Position modules that a backbone computes once per forward pass and hands
to its blocks as keyword arguments.

A shared BEiT-style relative-position table (:class:`RelativePositionTable`)
gives the offset grid of the token grid in use; the attention layer turns it
into its ``attn_mask`` (:meth:`~.attention.Attention.table_bias`), once, for
every block of its kind. A rotary embedding (:class:`EvaRotaryEmbedding`,
:class:`Dinov3RotaryEmbedding`) gives the :class:`Rotation` of queries and
keys on a grid (``rope=``): the windowed blocks get the window's, the global
blocks the whole grid's. Per-block decomposed relative positions (ViTDet,
SAM) live in :class:`~.attention.Attention` under their published names; the
absolute embedding is a parameter of the backbone, resized to each input
(:func:`~.vit_geometry.resize_abs_pos_embed`).

Rotary tables are computed in float32, as both families' code computes them.
"""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import apply_rot_embed, build_rotary_pos_embed

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


@dataclass
class Rotation:
    """The rotary embedding of one token grid: ``sin`` and ``cos``
    ``(H*W, head_dims)``, in interleaved pairs (EVA-02) or in halves
    (``half``, DINOv3). Calling it rotates queries or keys ``(..., H*W,
    head_dims)`` and keeps their dtype."""
    sin: torch.Tensor
    cos: torch.Tensor
    half: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return apply_rot_embed(x, self.sin, self.cos, half=self.half)


class EvaRotaryEmbedding(nn.Module):
    """EVA-02's 2-D rotary embedding (``VisionRotaryEmbeddingFast`` of
    baaivision/EVA): per axis, frequencies ``theta ** (-i / (head_dims /
    4))`` of positions rescaled onto the pre-training grid (``t = index /
    size * ref_size``), concatenated for the two axes, in interleaved pairs.

    Args:
        head_dims (int): channels per head.
        ref_grid (int): side of the pre-training token grid (16 for EVA-02
            at 224 px, patch 14).
        theta (float): frequency base.
    """

    def __init__(self, head_dims: int, ref_grid: int, theta: float = 1e4):
        super().__init__()
        self.head_dims, self.ref_grid, self.theta = head_dims, ref_grid, theta

    def forward(self, hw: Tuple[int, int],
                device: Optional[torch.device] = None) -> Rotation:
        """The rotation of the tokens of grid ``hw``, on ``device``."""
        sin, cos = build_rotary_pos_embed(
            list(hw), dim=self.head_dims, temperature=self.theta,
            in_pixels=False, ref_feat_shape=[self.ref_grid] * 2,
            device=device)
        return Rotation(sin, cos, half=False)


class Dinov3RotaryEmbedding(nn.Module):
    """DINOv3's 2-D rotary embedding (``RopePositionEmbedding`` of
    facebookresearch/dinov3): token centres normalised to ``[-1, 1]`` over
    each axis of the grid, angles ``2 pi coord / periods`` for the two axes,
    tiled in two halves. ``periods`` is the checkpoint's
    (``rope_embed.periods``), ``base ** (2i / (head_dims / 2))`` at init.

    Args:
        head_dims (int): channels per head.
        base (float): period base.
    """

    def __init__(self, head_dims: int, base: float = 100.0):
        super().__init__()
        exponents = 2 * torch.arange(head_dims // 4) / (head_dims // 2)
        self.register_buffer('periods', base**exponents)

    def forward(self, hw: Tuple[int, int],
                device: Optional[torch.device] = None) -> Rotation:
        """The rotation of the tokens of grid ``hw`` (on the device of the
        periods)."""
        periods = self.periods.float()
        coords = [(torch.arange(0.5, n, device=periods.device) / n) * 2 - 1
                  for n in hw]
        # (H, W, 2) -> (H*W, 2) -> (H*W, 2, head_dims / 4)
        coords = torch.stack(torch.meshgrid(*coords, indexing='ij'),
                             dim=-1).flatten(0, 1)
        angles = 2 * math.pi * coords[:, :, None] / periods
        angles = angles.flatten(1).tile(2)  # (H*W, head_dims)
        return Rotation(angles.sin(), angles.cos(), half=True)
