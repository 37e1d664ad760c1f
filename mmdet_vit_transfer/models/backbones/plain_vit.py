"""Plain ViT backbone for Mask R-CNN (Li et al., "Benchmarking Detection
Transfer Learning with Vision Transformers", 2021).

A standard ViT with the cls token dropped, windowed attention in most blocks
and global attention in four, relative position biases, and four outputs
taken after the global blocks. The geometry lives in
:mod:`mmdet_vit_transfer.models.layers.vit_geometry`; this file wires it.

Parameter names follow timm / BEiT (``patch_embed.proj``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.mlp.fc1``, ``gamma_1``...) so that published checkpoints map
onto the model with few renames.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmdet.registry import MODELS

from ..layers.biased_attention import (OffsetGridBias, biased_attention,
                                       grid_attention_bias)
from ..layers.vit_geometry import (decomposed_rel_pos_bias,
                                   relative_offset_grid, relative_table_size,
                                   resize_abs_pos_embed, window_partition,
                                   window_unpartition)

ARCH_SETTINGS: Dict[str, Dict[str, int]] = {
    'base': dict(embed_dims=768, depth=12, num_heads=12),
    'large': dict(embed_dims=1024, depth=24, num_heads=16),
    'huge': dict(embed_dims=1280, depth=32, num_heads=16),
}
REL_POS_MODES = ('shared_table', 'decomposed', None)
QKV_BIAS_MODES = ('qkv', 'qv', None)


class RelativePositionTable(nn.Module):
    """One BEiT-style relative-position table, shared by several blocks.

    Args:
        table_hw (tuple): grid the table is made for.
        num_heads (int): attention heads.
    """

    def __init__(self, table_hw: Tuple[int, int], num_heads: int):
        super().__init__()
        self.table_hw = tuple(table_hw)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(relative_table_size(table_hw), num_heads))

    def forward(self,
                hw: Tuple[int, int]) -> Union[torch.Tensor, OffsetGridBias]:
        """Bias ``(1, num_heads, H*W, H*W)`` for tokens on grid ``hw``;
        one of more than ``BLOCK_ELEMENTS`` comes as an
        :class:`OffsetGridBias`, never whole on the CPU (805 MB for ViT-B's
        global blocks at 1024 px, and as much for its gradient)."""
        return grid_attention_bias(
            relative_offset_grid(self.relative_position_bias_table,
                                 self.table_hw, hw))


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

    def forward(
            self,
            x: torch.Tensor,
            bias: Union[torch.Tensor, OffsetGridBias, None] = None
    ) -> torch.Tensor:
        """Attend within each ``(H, W)`` map of ``x``.

        Args:
            x (Tensor): ``(B, H, W, C)``.
            bias (Tensor | OffsetGridBias | None): additive bias
                broadcastable to ``(B, num_heads, H*W, H*W)`` (shared
                relative tables).
        """
        B, H, W, C = x.shape
        qkv_bias = None
        if self.q_bias is not None:
            qkv_bias = torch.cat(
                [self.q_bias,
                 torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight,
                       self.qkv.bias if qkv_bias is None else qkv_bias)
        # (B, N, 3, heads, hd) -> 3 x (B, heads, N, hd)
        q, k, v = qkv.reshape(B, H * W, 3, self.num_heads,
                              -1).permute(2, 0, 3, 1, 4).unbind(0)
        if self.use_decomposed_rel_pos:
            # As ViTDet: the bias is computed from the unscaled queries.
            rel = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w,
                                          (H, W))
            bias = rel if bias is None else bias + rel
        x = biased_attention(q, k, v, bias)
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

    def forward(
            self,
            x: torch.Tensor,
            bias: Union[torch.Tensor, OffsetGridBias, None] = None
    ) -> torch.Tensor:
        """Args: x ``(B, H, W, C)``; bias for this block's attention."""
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            H, W = x.shape[1:3]
            x, padded_hw = window_partition(x, self.window_size)
        x = self.attn(x, bias)
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
class PlainViTPyramid(BaseModule):
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
        rel_pos (str | None): ``'shared_table'`` (one BEiT table shared by
            the windowed blocks, one by the global blocks), ``'decomposed'``
            (ViTDet, per block) or None.
        qkv_bias (str | None): ``'qkv'``, ``'qv'`` (BEiT) or None.
        layer_scale_init_value (float): BEiT layer scale init (0.1); 0 off.
        drop_path_rate (float): stochastic depth, linear over the depth.
        mlp_ratio (float): MLP hidden size over the width.
        norm_cfg (dict): norm layer of the blocks.
        with_cp (bool): activation checkpointing of every block.
        init_cfg (dict | None): None for the random init of the scratch
            baseline, or ``dict(type='Pretrained', checkpoint=...)`` with a
            published checkpoint (MAE, DeiT/timm, MoCo v3, BEiT, mmpretrain)
            or a converted one, and optionally ``format`` (``'auto'``),
            ``abs_pos`` and ``rel_pos`` (see
            :func:`mmdet_vit_transfer.checkpoints.load_pretrained`).
    """

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
                 rel_pos: Optional[str] = 'shared_table',
                 qkv_bias: Optional[str] = 'qkv',
                 layer_scale_init_value: float = 0.0,
                 drop_path_rate: float = 0.0,
                 mlp_ratio: float = 4.0,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        arch = self._resolve_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depth = arch['depth']
        self.num_heads = arch['num_heads']
        if rel_pos not in REL_POS_MODES:
            raise ValueError(f'rel_pos must be one of {REL_POS_MODES}, '
                             f'got {rel_pos!r}')
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
        if rel_pos == 'shared_table':
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
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise ValueError(f'arch must be one of '
                                 f'{sorted(ARCH_SETTINGS)} or a dict, '
                                 f'got {arch!r}')
            return ARCH_SETTINGS[arch]
        missing = {'embed_dims', 'depth', 'num_heads'} - set(arch)
        if missing:
            raise ValueError(f'arch dict lacks {sorted(missing)}')
        if arch['embed_dims'] % arch['num_heads']:
            raise ValueError(
                f"embed_dims {arch['embed_dims']} is not divisible by "
                f"num_heads {arch['num_heads']}")
        if arch['depth'] < 1:
            raise ValueError(f"depth must be positive, got {arch['depth']}")
        return dict(arch)

    def _check_indexes(self, name: str, indexes: Sequence[int]) -> List[int]:
        indexes = sorted(int(i) for i in indexes)
        bad = [i for i in indexes if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f'{name} {bad} out of range for depth '
                             f'{self.depth} (valid: 0..{self.depth - 1})')
        return indexes

    def init_weights(self) -> None:
        """Random init (the scratch baseline), then any pre-trained weights.

        Linear layers get a truncated normal (std 0.02); the attention output
        projection and second MLP layer of block ``i`` (1-based) are divided
        by ``sqrt(2 * i)``. Relative-position tables start at zero.
        """
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        proj = self.patch_embed.proj
        # As MAE: the patch projection initialised like a Linear layer.
        nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        nn.init.zeros_(proj.bias)
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=0.02)
        for i, block in enumerate(self.blocks, start=1):
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * i))
            block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * i))
        for name, p in self.named_parameters():
            if 'rel_pos' in name:
                nn.init.zeros_(p)
        if self.init_cfg is None:
            return
        if self.init_cfg.get('type') != 'Pretrained':
            super().init_weights()
            return
        # Imported here: the checkpoint module builds on the model layers.
        from ...checkpoints import load_pretrained, pretrained_options
        load_pretrained(self, **pretrained_options(self.init_cfg))
        self._is_init = True

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x ``(B, 3, H, W)``. Returns a tuple of ``(B, C, H/16, W/16)``
        maps, one per entry of ``out_indices``."""
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)  # (B, h, w, C)
        hw = tuple(x.shape[1:3])
        if self.pos_embed is not None:
            x = x + resize_abs_pos_embed(self.pos_embed, hw)

        window_bias = global_bias = None
        if self.rel_pos == 'shared_table':
            # Built once per forward and shared by every block of its kind.
            if self.rel_pos_window is not None:
                window_bias = self.rel_pos_window(
                    (self.window_size, self.window_size))
            if self.rel_pos_global is not None:
                global_bias = self.rel_pos_global(hw)

        outs = []
        for i, block in enumerate(self.blocks):
            bias = window_bias if block.window_size > 0 else global_bias
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, bias, use_reentrant=False)
            else:
                x = block(x, bias)
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def get_layer_depth(self, param_name: str,
                        prefix: str = 'backbone.') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise lr decay.

        Patch and position embeddings are layer 0, block ``i`` is ``i + 1``,
        everything else (shared relative tables as in BEiT, neck, heads) is
        the top, ``depth + 1``.

        Args:
            param_name (str): parameter name in the detector.
            prefix (str): prefix of this backbone's parameters.

        Returns:
            tuple: ``(layer_id, num_layers)`` with ``num_layers = depth + 2``.
        """
        num_layers = self.depth + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(('patch_embed', 'pos_embed')):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers
