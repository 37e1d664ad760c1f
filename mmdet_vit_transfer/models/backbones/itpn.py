"""iTPN backbone for Mask R-CNN (Tian et al., "Integrally Pre-Trained
Transformer Pyramid Networks", CVPR 2023).

A HiViT encoder (4x4-pixel stem, MLP-only blocks at strides 4 and 8 joined by
patch merging, global-attention blocks at stride 16) followed by the
top-down pyramid that iTPN pre-trains together with it. The pyramid gives
five maps of ``fpn_dim`` channels at strides 4, 8, 16, 32 and 64, so the
detector needs no separate neck; ``out_type='stages'`` returns the three
encoder stages instead, for a randomly initialised FPN.

The MLP-only blocks, patch merging and patch splitting are mmpretrain's HiViT
and iTPN modules; the attention blocks are the plain ViT's
(:class:`~.plain_vit.Block`: scaled-dot-product attention with an additive
bias). Every map is channels-last ``(B, H, W, C)`` inside; parameter names
are those of the published iTPN detection code (``patch_embed``,
``absolute_pos_embed``, ``blocks.{i}``, ``align_dim_16tofpn``,
``split_16to8``, ``block_16to8``, ``align_dim_16to8``, ``split_8to4``,
``block_8to4``, ``align_dim_8to4``, ``fpn_modules``), so its checkpoints map
onto the model without renames.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmpretrain.models.backbones.hivit import BlockWithRPE, PatchMerge
from mmpretrain.models.necks.itpn_neck import PatchSplit
from mmdet.registry import MODELS

from ..layers.attention import Attention, attention_layer
from ..layers.vit_geometry import (relative_offset_grid, relative_table_size,
                                   resize_abs_pos_embed)
from .base import (ViTBackboneBase, no_grad_when_fully_frozen,
                   resolve_arch)
from .itpn_checkpoint import filter_itpn_state
from .plain_vit import Block, check_rel_pos

#: The published iTPN encoders: width of the stride-16 stage, number of MLP
#: blocks at stride 4 and at stride 8 and of attention blocks at stride 16,
#: attention heads. (mmpretrain's HiViT counts its stem in pairs of MLP
#: blocks: its 'base' is ``depths=(4, 4, 24)`` here.)
ARCH_SETTINGS: Dict[str, Dict] = {
    'base': dict(embed_dims=512, depths=(3, 3, 24), num_heads=8),
    'large': dict(embed_dims=768, depths=(2, 2, 40), num_heads=12),
}
#: Input pixels per stride-16 token, and per stem token.
PATCH_SIZE, STEM_STRIDE = 16, 4
OUT_TYPES = ('pyramid', 'stages')


class HiViTBlock(Block):
    """Global-attention block of the stride-16 stage.

    A plain ViT block (``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``,
    ``mlp``, optional layer scales ``ls1``/``ls2``) that may hold its own
    relative-position table, as HiViT pre-training does.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        mlp_ratio (float): MLP hidden size over ``embed_dims``.
        drop_path (float): stochastic depth rate of this block.
        norm_cfg (dict): norm layer config.
        layer_scale_init_value (float): initial layer scale; 0 disables it.
        rel_pos (str | None): ``'table'`` (its own table,
            ``attn.relative_position_bias_table``), ``'decomposed'``
            (ViTDet's ``attn.rel_pos_h``/``rel_pos_w``) or None.
        rel_pos_hw (tuple): grid the relative positions are made for; they
            are resized to the input grid on the fly.
        attn_layer (callable): builds the attention layer (see
            :func:`~..layers.attention.attention_layer`).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float,
                 drop_path: float, norm_cfg: dict,
                 layer_scale_init_value: float, rel_pos: Optional[str],
                 rel_pos_hw: Tuple[int, int], attn_layer=Attention):
        super().__init__(
            embed_dims,
            num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias='qkv',
            drop_path=drop_path,
            norm_cfg=norm_cfg,
            layer_scale_init_value=layer_scale_init_value,
            window_size=0,
            decomposed_rel_pos_hw=rel_pos_hw
            if rel_pos == 'decomposed' else None,
            attn_layer=attn_layer)
        self.table_hw = tuple(rel_pos_hw) if rel_pos == 'table' else None
        if self.table_hw is not None:
            # HiViT's tables have no cls rows.
            self.attn.relative_position_bias_table = nn.Parameter(
                torch.zeros(relative_table_size(self.table_hw, 0),
                            num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x ``(B, H, W, C)``. Returns the same shape."""
        bias = None
        if self.table_hw is not None:
            grid = relative_offset_grid(self.attn.relative_position_bias_table,
                                        self.table_hw, tuple(x.shape[1:3]), 0)
            bias = self.attn.table_bias(grid, x)
        return super().forward(x, bias)


def _mlp_block(dims: int, mlp_ratio: float, drop_path: float, norm_cfg: dict,
               layer_scale_init_value: float = 0.0) -> BlockWithRPE:
    """HiViT's MLP-only block (mmpretrain's ``BlockWithRPE`` without heads):
    ``x + gamma_2 * mlp(norm2(x))`` on channels-last maps of any shape."""
    return BlockWithRPE(
        None,
        dims,
        num_heads=0,
        mlp_ratio=mlp_ratio,
        drop_path=drop_path,
        rpe=False,
        layer_scale_init_value=layer_scale_init_value,
        norm_cfg=norm_cfg)


def _split(module: PatchSplit, x: torch.Tensor) -> torch.Tensor:
    """mmpretrain's PatchSplit on a channels-last map: ``(B, h, w, C)`` ->
    ``(B, 2h, 2w, C')``, each token unfolded into its 2x2 children."""
    return module(x.unsqueeze(1)).squeeze(1)


@MODELS.register_module()
class ITPNHiViT(ViTBackboneBase):
    """iTPN: a HiViT encoder and its integrally pre-trained pyramid.

    Args:
        arch (str | dict): ``'base'`` (iTPN-B), ``'large'`` (iTPN-L) or a
            dict with ``embed_dims`` (width at stride 16; the stem has a
            quarter, stride 8 a half), ``depths`` (MLP blocks at stride 4,
            at stride 8, attention blocks at stride 16) and ``num_heads``.
        img_size (int): input size the model is built for (1024); sets the
            grid of the relative positions. Any input whose sides are
            multiples of 16 works.
        pretrain_img_size (int): image size of pre-training; the absolute
            position embedding is stored at its grid (14x14 at 224) and
            resized to the input grid on the fly.
        in_channels (int): image channels.
        use_abs_pos (bool): add the absolute position embedding at stride 16.
        stem_mlp_ratio (float): MLP ratio of the stride-4 and -8 blocks.
        mlp_ratio (float): MLP ratio of the attention and pyramid blocks.
        fpn_dim (int): channels of the pyramid and of its five outputs.
        fpn_depth (int): MLP blocks after each upsampling of the pyramid
            (the published detection configs use 1).
        out_type (str): ``'pyramid'``: the five pyramid maps
            ``(B, fpn_dim, H/s, W/s)`` for s = 4, 8, 16, 32, 64;
            ``'stages'``: the encoder maps at strides 4, 8 and 16 (``C/4``,
            ``C/2`` and ``C`` channels) for a separate, randomly initialised
            neck; the pyramid is then not built.
        rel_pos (str | None): relative position of the attention blocks:
            None (pixel pre-training), ``'table'`` (a table per block, as
            CLIP-supervised pre-training; transferred and resized) or
            ``'decomposed'`` (ViTDet's, what the published CLIP detector
            uses; not pre-trained).
        layer_scale_init_value (float): layer scale of the encoder blocks
            (0.1 for the CLIP-supervised checkpoints); 0 disables it.
        drop_path_rate (float): stochastic depth over the encoder's MLP and
            attention blocks, linear from 0.
        norm_cfg (dict): norm layers.
        with_cp (bool): activation checkpointing of every encoder block.
        frozen_stages (int | str): frozen and partial fine-tuning of the
            encoder: -1 (nothing frozen), 0 (the embeddings: stem and
            absolute position), ``k`` (the embeddings and the first ``k``
            entries of ``blocks``, patch merges included) or ``'all'``
            (the whole encoder, which then runs under ``torch.no_grad()``
            in eval mode). The pyramid always trains, as a neck would. See
            :class:`~.base.ViTBackboneBase`.
        attn_backend (str | dict): ``'auto'``, ``'sdpa'`` or
            ``'cpu_fused'`` (see :func:`~..layers.attention.attention_layer`).
        init_cfg (dict | None): None for random init, or
            ``dict(type='Pretrained', checkpoint=...)`` with an iTPN
            checkpoint (official pixel / CLIP or mmpretrain layout, or a
            converted one) and optionally ``format`` (``'auto'``),
            ``abs_pos_init`` and ``rel_pos_init`` (see
            :func:`mmdet_vit_transfer.checkpoints.load_pretrained`).
    """

    EMBEDDING_NAMES = ('patch_embed.', 'absolute_pos_embed')
    ABS_POS_NAME = 'absolute_pos_embed'

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 1024,
                 pretrain_img_size: int = 224,
                 in_channels: int = 3,
                 use_abs_pos: bool = True,
                 stem_mlp_ratio: float = 3.0,
                 mlp_ratio: float = 4.0,
                 fpn_dim: int = 256,
                 fpn_depth: int = 1,
                 out_type: str = 'pyramid',
                 rel_pos: Optional[str] = None,
                 layer_scale_init_value: float = 0.0,
                 drop_path_rate: float = 0.0,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 with_cp: bool = False,
                 frozen_stages: Union[int, str] = -1,
                 attn_backend: Union[str, dict] = 'auto',
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen_stages=frozen_stages, init_cfg=init_cfg)
        arch = self._resolve_arch(arch)
        self.embed_dims = arch['embed_dims']
        self.depths = tuple(arch['depths'])
        self.num_heads = arch['num_heads']
        if out_type not in OUT_TYPES:
            raise ValueError(f'out_type must be one of {OUT_TYPES}, '
                             f'got {out_type!r}')
        check_rel_pos(rel_pos)
        for name, value in dict(img_size=img_size,
                                pretrain_img_size=pretrain_img_size).items():
            if value < PATCH_SIZE or value % PATCH_SIZE:
                raise ValueError(f'{name} must be a positive multiple of '
                                 f'{PATCH_SIZE}, got {value}')
        if fpn_dim < 1 or fpn_depth < 0:
            raise ValueError(f'fpn_dim must be positive and fpn_depth >= 0, '
                             f'got {fpn_dim} and {fpn_depth}')
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        self.out_type = out_type
        self.rel_pos = rel_pos
        self.fpn_dim = fpn_dim
        self.fpn_depth = fpn_depth
        self.with_cp = with_cp
        attn_layer = attention_layer(attn_backend)
        grid = img_size // PATCH_SIZE
        self.grid_hw = (grid, grid)
        pretrain_grid = pretrain_img_size // PATCH_SIZE
        dims4, dims8, dims16 = (self.embed_dims // 4, self.embed_dims // 2,
                                self.embed_dims)

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(
            in_channels, dims4, STEM_STRIDE, stride=STEM_STRIDE)
        self.patch_embed.norm = build_norm_layer(norm_cfg, dims4)[1]
        # Stored at the pre-training grid, without cls slot, like the
        # checkpoints; resized to the input grid on the fly.
        self.absolute_pos_embed = nn.Parameter(
            torch.zeros(1, pretrain_grid**2, dims16)) if use_abs_pos else None

        # One list, as published: MLP blocks, merge, MLP blocks, merge,
        # attention blocks. Drop path grows over the MLP and attention
        # blocks (merges excluded).
        stem4, stem8, main = self.depths
        num_blocks = stem4 + stem8 + main
        dpr = iter(drop_path_rate * i / max(num_blocks - 1, 1)
                   for i in range(num_blocks))
        self.blocks = nn.ModuleList()
        for dims, count in ((dims4, stem4), (dims8, stem8)):
            self.blocks.extend(
                _mlp_block(dims, stem_mlp_ratio, next(dpr), norm_cfg,
                           layer_scale_init_value) for _ in range(count))
            self.blocks.append(PatchMerge(dims, norm_cfg))
        self.num_stem_entries = len(self.blocks)
        self.blocks.extend(
            HiViTBlock(dims16, self.num_heads, mlp_ratio, next(dpr),
                       norm_cfg, layer_scale_init_value, rel_pos,
                       self.grid_hw, attn_layer) for _ in range(main))

        if out_type == 'pyramid':
            self.align_dim_16tofpn = nn.Linear(
                dims16, fpn_dim) if dims16 != fpn_dim else None
            self.align_dim_16to8 = nn.Linear(dims8, fpn_dim, bias=False)
            self.split_16to8 = PatchSplit(dims16, fpn_dim, norm_cfg)
            self.block_16to8 = nn.Sequential(*(
                _mlp_block(fpn_dim, mlp_ratio, 0.0, norm_cfg)
                for _ in range(fpn_depth)))
            self.align_dim_8to4 = nn.Linear(dims4, fpn_dim, bias=False)
            self.split_8to4 = PatchSplit(fpn_dim, fpn_dim, norm_cfg)
            self.block_8to4 = nn.Sequential(*(
                _mlp_block(fpn_dim, mlp_ratio, 0.0, norm_cfg)
                for _ in range(fpn_depth)))
            # One block per level, strides 16, 8, 4.
            self.fpn_modules = nn.ModuleList(
                _mlp_block(fpn_dim, mlp_ratio, 0.0, norm_cfg)
                for _ in range(3))
        self.freeze_stages()

    @staticmethod
    def _resolve_arch(arch: Union[str, dict]) -> dict:
        arch = resolve_arch(arch, ARCH_SETTINGS,
                            ('embed_dims', 'depths', 'num_heads'))
        embed_dims, depths, heads = (arch['embed_dims'], tuple(arch['depths']),
                                     arch['num_heads'])
        if embed_dims % 4 or embed_dims % heads:
            raise ValueError(f'embed_dims {embed_dims} must be divisible by 4 '
                             f'(stem width) and by num_heads {heads}')
        if (len(depths) != 3 or min(depths) < 0 or depths[2] < 1):
            raise ValueError(f'depths must be (MLP blocks at stride 4, at '
                             f'stride 8, attention blocks >= 1), got '
                             f'{depths}')
        return dict(embed_dims=embed_dims, depths=depths, num_heads=heads)

    @property
    def out_channels(self) -> List[int]:
        """Channels of each output map."""
        if self.out_type == 'pyramid':
            return [self.fpn_dim] * 5
        return [self.embed_dims // 4, self.embed_dims // 2, self.embed_dims]

    def checkpoint_filter(self, state: dict, report, **options) -> dict:
        """Fit a converted iTPN checkpoint to this model (see
        :func:`.itpn_checkpoint.filter_itpn_state`)."""
        return filter_itpn_state(state, self, report, **options)

    @no_grad_when_fully_frozen
    def forward_stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The encoder: channels-last maps at strides 4, 8 and 16.

        Args:
            x (Tensor): ``(B, 3, H, W)``, H and W multiples of 16.

        Returns:
            list[Tensor]: ``(B, H/4, W/4, C/4)`` and ``(B, H/8, W/8, C/2)``
            (the inputs of the two patch merges), ``(B, H/16, W/16, C)``.
        """
        H, W = x.shape[-2:]
        if H % PATCH_SIZE or W % PATCH_SIZE:
            raise ValueError(f'ITPNHiViT needs input sides that are '
                             f'multiples of {PATCH_SIZE}, got {H}x{W}: pad '
                             f'the batch (e.g. pad_size_divisor=32)')
        x = self.patch_embed.proj(x).permute(0, 2, 3, 1)  # (B, H/4, W/4, C/4)
        x = self.patch_embed.norm(x)
        stages = []
        for block in self.blocks[:self.num_stem_entries]:
            if isinstance(block, PatchMerge):
                stages.append(x)
            x = self.run_block(block, x)
        # (B, H/16, W/16, C) from here on.
        if self.absolute_pos_embed is not None:
            x = x + resize_abs_pos_embed(
                self.absolute_pos_embed, tuple(x.shape[1:3]),
                num_extra_tokens=0)
        for block in self.blocks[self.num_stem_entries:]:
            x = self.run_block(block, x)
        stages.append(x)
        return stages

    def forward_pyramid(self, stages: Sequence[torch.Tensor]
                        ) -> List[torch.Tensor]:
        """The top-down pyramid on the encoder stages.

        Stride 16 is the encoder output aligned to ``fpn_dim``; stride 8 the
        stride-16 output split into 2x2 children plus the aligned stride-8
        stage, then ``block_16to8``; stride 4 likewise from stride 8. One MLP
        block per level follows (``fpn_modules``); strides 32 and 64 are 2x2
        average pools of stride 16 and 32.

        Args:
            stages (sequence[Tensor]): the output of :meth:`forward_stages`.

        Returns:
            list[Tensor]: ``(B, fpn_dim, H/s, W/s)`` for s = 4, 8, ..., 64.
        """
        s4, s8, s16 = stages
        p16 = s16 if self.align_dim_16tofpn is None else \
            self.align_dim_16tofpn(s16)
        p8 = self.block_16to8(
            _split(self.split_16to8, s16) + self.align_dim_16to8(s8))
        p4 = self.block_8to4(
            _split(self.split_8to4, p8) + self.align_dim_8to4(s4))
        p16, p8, p4 = (block(p).permute(0, 3, 1, 2).contiguous()
                       for block, p in zip(self.fpn_modules, (p16, p8, p4)))
        p32 = F.avg_pool2d(p16, kernel_size=2, stride=2)
        p64 = F.avg_pool2d(p32, kernel_size=2, stride=2)
        return [p4, p8, p16, p32, p64]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x ``(B, 3, H, W)``, H and W multiples of 16. Returns the
        five pyramid maps (``out_type='pyramid'``) or the three stage maps,
        ``(B, C_i, H/s_i, W/s_i)``, finest first."""
        stages = self.forward_stages(x)
        if self.out_type == 'stages':
            return tuple(s.permute(0, 3, 1, 2).contiguous() for s in stages)
        return tuple(self.forward_pyramid(stages))
