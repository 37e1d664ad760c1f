"""Plain ViT backbone for Mask R-CNN (Li et al., "Benchmarking Detection
Transfer Learning with Vision Transformers", 2021).

A standard ViT with the cls token dropped, windowed attention in most blocks
and global attention in four, relative position biases, and four outputs
taken after the global blocks. The geometry lives in
:mod:`mmdet_vit_transfer.models.layers.vit_geometry`; this file wires it.

Attention is one call to a backend chosen per forward pass
(``attn_backend``): ``'sdpa'``, PyTorch's ``scaled_dot_product_attention``
on any device, or ``'cpu_fused'``, the fused CPU kernel of
:mod:`mmdet_vit_transfer.models.layers.cpu_fused_attention` (the default on
CPU tensors). On both, each shared table's bias is made once per forward
and shared by every block of its kind.

Parameter names follow timm / BEiT (``patch_embed.proj``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.mlp.fc1``, ``gamma_1``...) so that published checkpoints map
onto the model with few renames.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmdet.registry import MODELS

from ..layers.cpu_fused_attention import CPUFusedAttention, supports
from ..layers.vit_geometry import (NUM_CLS_RELATIVE_ENTRIES,
                                   decomposed_rel_pos_bias, offset_grid_bias,
                                   relative_offset_grid, relative_table_size,
                                   resize_abs_pos_embed, window_partition,
                                   window_unpartition)
from .base import ViTBackboneBase, resolve_arch
from .checkpoint_filters import filter_plain_vit_state

ARCH_SETTINGS: Dict[str, Dict[str, int]] = {
    'base': dict(embed_dims=768, depth=12, num_heads=12),
    'large': dict(embed_dims=1024, depth=24, num_heads=16),
    'huge': dict(embed_dims=1280, depth=32, num_heads=16),
}
#: Relative positions of both backbones: BEiT-style tables, ViTDet's
#: decomposed ones, or none.
REL_POS_MODES = ('table', 'decomposed', None)
QKV_BIAS_MODES = ('qkv', 'qv', None)
ATTN_BACKENDS = ('auto', 'sdpa', 'cpu_fused')


class SDPAttention:
    """The generic attention backend, for any device and dtype: PyTorch's
    ``scaled_dot_product_attention``, with a table's bias made whole once
    per forward in the dtype attention runs in (the autocast dtype under
    autocast).

    Args:
        dtype (torch.dtype): dtype of the queries.
    """

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype

    def table_bias(self, grid: torch.Tensor) -> torch.Tensor:
        """``(1, heads, H*W, H*W)`` from an offset grid."""
        return offset_grid_bias(grid).unsqueeze(0).to(self.dtype)

    def __call__(self, q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def check_rel_pos(rel_pos: Optional[str]) -> None:
    """ValueError unless ``rel_pos`` is one of ``REL_POS_MODES``."""
    if rel_pos == 'shared_table':
        raise ValueError("rel_pos='shared_table' is now rel_pos='table'")
    if rel_pos not in REL_POS_MODES:
        raise ValueError(f'rel_pos must be one of {REL_POS_MODES}, '
                         f'got {rel_pos!r}')


def parse_attn_backend(attn_backend: Union[str, dict]) -> Tuple[str, dict]:
    """``attn_backend`` as its name and the options of its CPU kernel;
    ValueError for an unknown name."""
    options = ({'type': attn_backend} if isinstance(attn_backend, str) else
               dict(attn_backend))
    name = options.pop('type', 'auto')
    if name not in ATTN_BACKENDS:
        raise ValueError(f'attn_backend must be one of {ATTN_BACKENDS}, '
                         f'got {name!r}')
    return name, options


def attention_backend(attn_backend: Union[str, dict], x: torch.Tensor):
    """The backend of one forward pass over inputs like ``x``.

    Args:
        attn_backend (str | dict): ``'auto'`` (``'cpu_fused'`` for CPU
            tensors in float32 or bfloat16, ``'sdpa'`` otherwise),
            ``'sdpa'`` or ``'cpu_fused'``; or ``dict(type=..., **options)``
            with the options of
            :class:`~..layers.cpu_fused_attention.CPUFusedAttention`.
        x (Tensor): the input of the forward pass.

    Returns:
        SDPAttention | CPUFusedAttention: it makes table biases
        (``table_bias(grid)``) and attends (``(q, k, v, bias)``).
    """
    name, options = parse_attn_backend(attn_backend)
    if name == 'auto':
        name = 'cpu_fused' if supports(x) else 'sdpa'
    if name == 'cpu_fused':
        if not supports(x):
            raise ValueError(f"attn_backend='cpu_fused' runs on CPU tensors "
                             f'in float32 or bfloat16, got {x.dtype} on '
                             f"{x.device}: use 'sdpa' or 'auto'")
        return CPUFusedAttention(**options)
    device = x.device.type
    autocast = (torch.amp.is_autocast_available(device)
                and torch.is_autocast_enabled(device))
    return SDPAttention(
        torch.get_autocast_dtype(device) if autocast else x.dtype)


def table_bias(table: torch.Tensor, table_hw: Tuple[int, int],
               hw: Tuple[int, int], num_cls_rows: int, attention):
    """The bias of a relative-position table for tokens on grid ``hw``, as
    the backend ``attention`` takes it (see :func:`attention_backend`)."""
    return attention.table_bias(
        relative_offset_grid(table, table_hw, hw, num_cls_rows))


class RelativePositionTable(nn.Module):
    """One BEiT-style relative-position table, shared by several blocks.

    Args:
        table_hw (tuple): grid the table is made for.
        num_heads (int): attention heads.

    Attributes:
        num_bias_builds (int): biases made from the table so far; one per
            forward pass and input size.
    """

    def __init__(self, table_hw: Tuple[int, int], num_heads: int):
        super().__init__()
        self.table_hw = tuple(table_hw)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(relative_table_size(table_hw), num_heads))
        self.num_bias_builds = 0

    def forward(self, hw: Tuple[int, int], attention):
        """The bias for tokens on grid ``hw``, for the backend
        ``attention``."""
        self.num_bias_builds += 1
        return table_bias(self.relative_position_bias_table, self.table_hw,
                          hw, NUM_CLS_RELATIVE_ENTRIES, attention)


class Attention(nn.Module):
    """Multi-head self-attention over a ``(B, H, W, C)`` token map.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        qkv_bias (str | None): ``'qkv'`` (one bias on the qkv projection),
            ``'qv'`` (BEiT: q and v biases, no k bias) or None.
        decomposed_rel_pos_hw (tuple | None): grid of the per-block
            decomposed relative-position embeddings (ViTDet), or None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: Optional[str] = 'qkv',
                 decomposed_rel_pos_hw: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.num_heads = num_heads
        head_dims = embed_dims // num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias == 'qkv')
        if qkv_bias == 'qv':
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = self.v_bias = None
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.use_decomposed_rel_pos = decomposed_rel_pos_hw is not None
        if self.use_decomposed_rel_pos:
            h, w = decomposed_rel_pos_hw
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * h - 1, head_dims))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * w - 1, head_dims))

    def forward(self, x: torch.Tensor, bias, attention) -> torch.Tensor:
        """Attend within each ``(H, W)`` map of ``x``.

        Args:
            x (Tensor): ``(B, H, W, C)``.
            bias: a shared table's bias from ``attention.table_bias``, or
                None.
            attention: the backend (see :func:`attention_backend`).
        """
        B, H, W, C = x.shape
        qkv_bias = self.qkv.bias
        if self.q_bias is not None:
            qkv_bias = torch.cat(
                [self.q_bias,
                 torch.zeros_like(self.v_bias), self.v_bias])
        # (B, N, 3, heads, hd) -> 3 x (B, heads, N, hd)
        q, k, v = F.linear(x, self.qkv.weight, qkv_bias).reshape(
            B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if self.use_decomposed_rel_pos:
            # As ViTDet: from the unscaled queries; exclusive with tables.
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w,
                                           (H, W))
        x = attention(q, k, v, bias)
        # (B, heads, N, hd) -> (B, H, W, C)
        x = x.transpose(1, 2).reshape(B, H, W, C)
        return self.proj(x)


class Mlp(nn.Module):
    """Two-layer MLP with GELU (timm names ``fc1``/``fc2``)."""

    def __init__(self, embed_dims: int, hidden_dims: int):
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with windowed or global attention.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        mlp_ratio (float): MLP hidden size over ``embed_dims``.
        qkv_bias (str | None): see :class:`Attention`.
        drop_path (float): stochastic depth rate of this block.
        norm_cfg (dict): norm layer config.
        layer_scale_init_value (float): initial value of the per-channel
            residual scales ``gamma_1``/``gamma_2`` (BEiT); 0 disables them.
        window_size (int): window side; 0 means global attention.
        decomposed_rel_pos_hw (tuple | None): see :class:`Attention`.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.0,
                 qkv_bias: Optional[str] = 'qkv',
                 drop_path: float = 0.0,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 layer_scale_init_value: float = 0.0,
                 window_size: int = 0,
                 decomposed_rel_pos_hw: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.window_size = window_size
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = Attention(embed_dims, num_heads, qkv_bias,
                              decomposed_rel_pos_hw)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio))
        if layer_scale_init_value > 0:
            self.gamma_1 = nn.Parameter(
                torch.full((embed_dims, ), float(layer_scale_init_value)))
            self.gamma_2 = nn.Parameter(
                torch.full((embed_dims, ), float(layer_scale_init_value)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor, bias, attention) -> torch.Tensor:
        """Args: x ``(B, H, W, C)``; the bias of this block's attention
        (see :meth:`Attention.forward`) and the attention backend."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            H, W = x.shape[1:3]
            x, padded_hw = window_partition(x, self.window_size)
        x = self.attn(x, bias, attention)
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, padded_hw, (H, W))
        if self.gamma_1 is not None:
            x = self.gamma_1 * x
        x = shortcut + self.drop_path(x)
        y = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            y = self.gamma_2 * y
        return x + self.drop_path(y)


@MODELS.register_module()
class PlainViTPyramid(ViTBackboneBase):
    """Plain ViT backbone that outputs the maps after its global blocks.

    Args:
        arch (str | dict): ``'base'``, ``'large'``, ``'huge'`` or a dict
            with ``embed_dims``, ``depth`` and ``num_heads``.
        img_size (int): input size the model is built for (1024); sets the
            grid of the global relative-position table. Other input sizes
            work: position embeddings and tables are resized on the fly.
        patch_size (int): patch side (16).
        in_channels (int): image channels.
        pretrain_img_size (int): image size of pre-training; the absolute
            position embedding is stored at this grid (plus a cls slot).
        use_abs_pos (bool): add the absolute position embedding.
        window_size (int): side of the attention windows (14).
        global_attn_indexes (sequence[int] | None): blocks with global
            attention; default the last block of each quarter of the depth.
        out_indices (sequence[int] | None): blocks whose outputs are
            returned; default ``global_attn_indexes``.
        rel_pos (str | None): ``'table'`` (one BEiT table shared by the
            windowed blocks, one by the global blocks), ``'decomposed'``
            (ViTDet, per block) or None.
        qkv_bias (str | None): ``'qkv'``, ``'qv'`` (BEiT) or None.
        layer_scale_init_value (float): BEiT layer scale init (0.1); 0 off.
        drop_path_rate (float): stochastic depth, linear over the depth.
        mlp_ratio (float): MLP hidden size over the width.
        norm_cfg (dict): norm layer of the blocks.
        with_cp (bool): activation checkpointing of every block.
        attn_backend (str | dict): ``'auto'``, ``'sdpa'`` or
            ``'cpu_fused'`` (see :func:`attention_backend`).
        init_cfg (dict | None): None for the random init of the scratch
            baseline, or ``dict(type='Pretrained', checkpoint=...)`` with a
            published checkpoint (MAE, DeiT/timm, MoCo v3, BEiT, mmpretrain)
            or a converted one, and optionally ``format`` (``'auto'``),
            ``abs_pos_init`` and ``rel_pos_init`` (see
            :func:`mmdet_vit_transfer.checkpoints.load_pretrained`).
    """

    EMBEDDING_NAMES = ('patch_embed.', 'pos_embed')
    ABS_POS_NAME = 'pos_embed'

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 1024,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 pretrain_img_size: int = 224,
                 use_abs_pos: bool = True,
                 window_size: int = 14,
                 global_attn_indexes: Optional[Sequence[int]] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 rel_pos: Optional[str] = 'table',
                 qkv_bias: Optional[str] = 'qkv',
                 layer_scale_init_value: float = 0.0,
                 drop_path_rate: float = 0.0,
                 mlp_ratio: float = 4.0,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 with_cp: bool = False,
                 attn_backend: Union[str, dict] = 'auto',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        arch = self._resolve_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depth = arch['depth']
        self.num_heads = arch['num_heads']
        check_rel_pos(rel_pos)
        if qkv_bias not in QKV_BIAS_MODES:
            raise ValueError(f'qkv_bias must be one of {QKV_BIAS_MODES}, '
                             f'got {qkv_bias!r}')
        for name, value in dict(
                img_size=img_size,
                patch_size=patch_size,
                pretrain_img_size=pretrain_img_size).items():
            if value < 1:
                raise ValueError(f'{name} must be positive, got {value}')
        if window_size < 0:
            raise ValueError(f'window_size must be >= 0 (0: all global), '
                             f'got {window_size}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f'drop_path_rate must be in [0, 1), got {drop_path_rate}')

        if global_attn_indexes is None:
            quarter = self.depth // 4
            global_attn_indexes = [quarter * (i + 1) - 1 for i in range(4)]
        self.global_attn_indexes = self._check_indexes(
            'global_attn_indexes', global_attn_indexes)
        self.out_indices = self._check_indexes(
            'out_indices', self.global_attn_indexes
            if out_indices is None else out_indices)
        if not self.out_indices:
            raise ValueError('out_indices must name at least one block')

        self.patch_size = patch_size
        self.window_size = window_size
        self.rel_pos = rel_pos
        self.with_cp = with_cp
        parse_attn_backend(attn_backend)
        self.attn_backend = attn_backend
        grid = img_size // patch_size
        self.grid_hw = (grid, grid)
        pretrain_grid = pretrain_img_size // patch_size

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(
            in_channels, self.embed_dims, patch_size, stride=patch_size)
        # Stored at the pre-training grid with a cls slot, like the
        # checkpoints it comes from; resized to the input grid on the fly.
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + pretrain_grid**2,
                        self.embed_dims)) if use_abs_pos else None

        windowed = [
            i not in self.global_attn_indexes and window_size > 0
            for i in range(self.depth)
        ]
        if rel_pos == 'table':
            self.rel_pos_window = RelativePositionTable(
                (window_size, window_size),
                self.num_heads) if any(windowed) else None
            self.rel_pos_global = RelativePositionTable(
                self.grid_hw,
                self.num_heads) if not all(windowed) else None

        dpr = [
            drop_path_rate * i / max(self.depth - 1, 1)
            for i in range(self.depth)
        ]
        self.blocks = nn.ModuleList()
        for i in range(self.depth):
            attn_hw = (window_size, window_size) if windowed[i] else self.grid_hw
            self.blocks.append(
                Block(
                    self.embed_dims,
                    self.num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop_path=dpr[i],
                    norm_cfg=norm_cfg,
                    layer_scale_init_value=layer_scale_init_value,
                    window_size=window_size if windowed[i] else 0,
                    decomposed_rel_pos_hw=attn_hw
                    if rel_pos == 'decomposed' else None))

    @staticmethod
    def _resolve_arch(arch: Union[str, dict]) -> Dict[str, int]:
        arch = resolve_arch(arch, ARCH_SETTINGS,
                            ('embed_dims', 'depth', 'num_heads'))
        if arch['embed_dims'] % arch['num_heads']:
            raise ValueError(
                f"embed_dims {arch['embed_dims']} is not divisible by "
                f"num_heads {arch['num_heads']}")
        if arch['depth'] < 1:
            raise ValueError(f"depth must be positive, got {arch['depth']}")
        return arch

    def _check_indexes(self, name: str, indexes: Sequence[int]) -> List[int]:
        indexes = sorted(int(i) for i in indexes)
        bad = [i for i in indexes if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f'{name} {bad} out of range for depth '
                             f'{self.depth} (valid: 0..{self.depth - 1})')
        return indexes

    def random_init(self) -> None:
        """Random init (the scratch baseline): that of
        :class:`~.base.ViTBackboneBase`, the patch projection initialised
        like a Linear layer (as MAE), and the attention output projection
        and second MLP layer of block ``i`` (1-based) divided by
        ``sqrt(2 * i)``."""
        super().random_init()
        proj = self.patch_embed.proj
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        nn.init.zeros_(proj.bias)
        for i, block in enumerate(self.blocks, start=1):
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * i))
            block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * i))

    def checkpoint_filter(self, state: dict, report, **options) -> dict:
        """Fit a converted ViT checkpoint to this model (see
        :func:`.checkpoint_filters.filter_plain_vit_state`)."""
        return filter_plain_vit_state(state, self, report, **options)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x ``(B, 3, H, W)``. Returns a tuple of ``(B, C, H/16, W/16)``
        maps, one per entry of ``out_indices``."""
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)  # (B, h, w, C)
        hw = tuple(x.shape[1:3])
        if self.pos_embed is not None:
            x = x + resize_abs_pos_embed(self.pos_embed, hw)

        attention = attention_backend(self.attn_backend, x)
        window_bias = global_bias = None
        if self.rel_pos == 'table':
            # Made once per forward and shared by every block of its kind.
            if self.rel_pos_window is not None:
                window_bias = self.rel_pos_window(
                    (self.window_size, self.window_size), attention)
            if self.rel_pos_global is not None:
                global_bias = self.rel_pos_global(hw, attention)

        outs = []
        for i, block in enumerate(self.blocks):
            bias = window_bias if block.window_size > 0 else global_bias
            x = self.run_block(block, x, bias, attention)
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
