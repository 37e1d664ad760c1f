"""Plain ViT backbone for Mask R-CNN (Li et al., "Benchmarking Detection
Transfer Learning with Vision Transformers", 2021).

A standard ViT with the prefix tokens (cls, registers) dropped, windowed
attention in most blocks and global attention in four, relative or rotary
positions, and four outputs taken after the global blocks. Blocks are
composed from parts, as timm's: an attention layer, an MLP (GELU, SwiGLU)
with its activation, norms and ``LayerScale`` modules that are
``nn.Identity`` when off. The architecture
of each published family is a preset of :mod:`.vit_presets` (``arch=``).
Geometry lives in :mod:`..layers.vit_geometry`; this file wires it.

Parameter names follow timm (``patch_embed.proj``, ``blocks.{i}.attn.qkv``,
``blocks.{i}.ls1.gamma``, ``blocks.{i}.mlp.fc1``, ``norm_pre``) so that
published checkpoints map onto the model with few renames.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmdet.registry import MODELS
from timm.layers import (GluMlp, LayerScale, Mlp, PatchEmbed, SwiGLU,
                         get_act_layer)

from ..layers.attention import Attention, attention_layer
from ..layers.position import (Dinov3RotaryEmbedding, EvaRotaryEmbedding,
                               RelativePositionTable, Rotation)
from ..layers.vit_geometry import (resize_abs_pos_embed, window_partition,
                                   window_unpartition)
from .base import ViTBackboneBase, no_grad_when_fully_frozen
from .plain_vit_checkpoint import filter_plain_vit_state
from .vit_presets import ARCH_ZOO

#: Relative positions of both backbones: BEiT-style tables, ViTDet's
#: decomposed ones, or none.
REL_POS_MODES = ('table', 'decomposed', None)
#: MLP activations by name (timm's).
ACTIVATIONS = ('gelu', 'gelu_tanh', 'quick_gelu')
#: MLPs by name: two layers (timm names fc1 / fc2); SwiGLU with split gate
#: and value projections (fc1_g / fc1_x, optionally normed before fc2: EVA's
#: sub-LN); SwiGLU with them packed in one (fc1: DINOv2-g).
MLP_LAYERS = ('mlp', 'swiglu', 'swiglu_packed')
#: Rotary position embeddings, by family.
ROPE_KINDS = ('eva', 'dinov3')


class _FromArch:
    """Default of the arguments an ``arch`` preset may set."""

    def __repr__(self) -> str:
        return "the arch's"


FROM_ARCH = _FromArch()
#: Values of the arch-settable arguments when neither the preset nor the
#: caller sets them: the paper's ViT.
ARCH_DEFAULTS = dict(
    patch_size=16,
    pretrain_img_size=224,
    use_abs_pos=True,
    window_size=14,
    global_attn_indexes=None,
    rel_pos='table',
    qkv_bias='qkv',
    layer_scale_init_value=0.0,
    mlp_ratio=4.0,
    act_layer='gelu',
    mlp_layer='mlp',
    mlp_norm=False,
    attn_norm=False,
    norm_cfg=dict(type='LN', eps=1e-6),
    pre_norm=False,
    patch_bias=True,
    reg_tokens=0,
    rope=None,
    rope_grid=None)


def check_rel_pos(rel_pos: Optional[str]) -> None:
    """ValueError unless ``rel_pos`` is one of ``REL_POS_MODES``."""
    if rel_pos == 'shared_table':
        raise ValueError("rel_pos='shared_table' is now rel_pos='table'")
    if rel_pos not in REL_POS_MODES:
        raise ValueError(f'rel_pos must be one of {REL_POS_MODES}, '
                         f'got {rel_pos!r}')


def arch_settings(arch: Union[str, dict], given: dict) -> dict:
    """Every architecture setting of a ViT: those ``given`` (not
    ``FROM_ARCH``), else the preset's, else ``ARCH_DEFAULTS``.

    Args:
        arch (str | dict): a name of ``ARCH_ZOO``, or a dict with
            ``embed_dims``, ``depth``, ``num_heads`` and optionally any key
            of ``ARCH_DEFAULTS``.
        given (dict): the constructor's arch-settable arguments.
    """
    if isinstance(arch, str):
        if arch not in ARCH_ZOO:
            raise ValueError(f'arch must be one of {sorted(ARCH_ZOO)} or a '
                             f'dict, got {arch!r}')
        preset = ARCH_ZOO[arch]
    else:
        preset = dict(arch)
        missing = {'embed_dims', 'depth', 'num_heads'} - set(preset)
        unknown = set(preset) - {'embed_dims', 'depth', 'num_heads',
                                 'family', *ARCH_DEFAULTS}
        if missing or unknown:
            raise ValueError(
                f'an arch dict needs embed_dims, depth and num_heads and may '
                f'set {sorted(ARCH_DEFAULTS)}; it lacks {sorted(missing)} '
                f'and has unknown {sorted(unknown)}')
    settings = {**ARCH_DEFAULTS, **preset}
    settings.update(
        (name, value) for name, value in given.items()
        if value is not FROM_ARCH)
    if settings['embed_dims'] % settings['num_heads']:
        raise ValueError(
            f"embed_dims {settings['embed_dims']} is not divisible by "
            f"num_heads {settings['num_heads']}")
    if settings['depth'] < 1:
        raise ValueError(f"depth must be positive, got {settings['depth']}")
    return settings


class Block(nn.Module):
    """Pre-norm transformer block with windowed or global attention.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        mlp_ratio (float): MLP hidden size over ``embed_dims``.
        qkv_bias (str | None): see :class:`~..layers.attention.Attention`.
        drop_path (float): stochastic depth rate of this block.
        norm_cfg (dict): norm layer config.
        layer_scale_init_value (float): initial value of the per-channel
            residual scales ``ls1`` / ``ls2``; 0 makes them identities.
        window_size (int): window side; 0 means global attention.
        decomposed_rel_pos_hw (tuple | None): see
            :class:`~..layers.attention.Attention`.
        act_layer (type): the MLP's activation (``'mlp'``).
        attn_layer (callable): builds the attention layer (see
            :func:`~..layers.attention.attention_layer`).
        mlp_layer (str): one of ``MLP_LAYERS``.
        mlp_norm (bool): a norm before the SwiGLU's output layer.
        attn_norm (bool): a norm of the attention output (EVA's sub-LN).
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
                 decomposed_rel_pos_hw: Optional[Tuple[int, int]] = None,
                 act_layer: type = nn.GELU,
                 attn_layer=Attention,
                 mlp_layer: str = 'mlp',
                 mlp_norm: bool = False,
                 attn_norm: bool = False):
        super().__init__()
        self.window_size = window_size

        def norm_layer(dims, **kwargs):  # timm's layers pass device, dtype
            return build_norm_layer(norm_cfg, dims)[1]

        self.norm1 = norm_layer(embed_dims)
        self.attn = attn_layer(embed_dims, num_heads, qkv_bias=qkv_bias,
                               decomposed_rel_pos_hw=decomposed_rel_pos_hw,
                               norm_layer=norm_layer if attn_norm else None)
        self.ls1 = (LayerScale(embed_dims, layer_scale_init_value)
                    if layer_scale_init_value else nn.Identity())
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(embed_dims)
        hidden = int(embed_dims * mlp_ratio)
        if mlp_layer == 'mlp':
            self.mlp = Mlp(embed_dims, hidden, act_layer=act_layer)
        elif mlp_layer == 'swiglu':
            self.mlp = SwiGLU(embed_dims, hidden,
                              norm_layer=norm_layer if mlp_norm else None)
        else:  # the packed projection's width: gate and value
            self.mlp = GluMlp(embed_dims, hidden, act_layer=nn.SiLU,
                              gate_last=False)
        self.ls2 = (LayerScale(embed_dims, layer_scale_init_value)
                    if layer_scale_init_value else nn.Identity())
        self.register_load_state_dict_pre_hook(_rename_layer_scale)

    def forward(self, x: torch.Tensor,
                attn_mask: Optional[torch.Tensor] = None,
                rope=None) -> torch.Tensor:
        """Args: x ``(B, H, W, C)``; the attention's ``attn_mask`` (a
        shared table's bias) and ``rope`` (a rotation of the window's or
        the grid's tokens), made once per forward pass."""
        x = x + self.drop_path(self.ls1(self.attend(self.norm1(x),
                                                    attn_mask, rope)))
        return x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))

    def attend(self, x: torch.Tensor, attn_mask, rope) -> torch.Tensor:
        """Attention over the whole map, or within each window (padded to a
        multiple of the window, as ViTDet)."""
        if not self.window_size:
            return self.attn(x, attn_mask, rope)
        H, W = x.shape[1:3]
        windows, padded_hw = window_partition(x, self.window_size)
        return window_unpartition(
            self.attn(windows, attn_mask, rope), self.window_size, padded_hw,
            (H, W))


def _rename_layer_scale(module, state_dict, prefix, *args) -> None:
    """Detector checkpoints of earlier releases name the layer scales
    ``gamma_1`` / ``gamma_2`` (BEiT's names); they load into ``ls1`` /
    ``ls2``."""
    for old, new in (('gamma_1', 'ls1.gamma'), ('gamma_2', 'ls2.gamma')):
        if prefix + old in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)


@MODELS.register_module()
class PlainViTPyramid(ViTBackboneBase):
    """Plain ViT backbone that outputs the maps after its global blocks.

    Arguments shown with the default ``FROM_ARCH`` take the ``arch``
    preset's value, else the paper's ViT's (``ARCH_DEFAULTS``).

    Args:
        arch (str | dict): ``'base'``, ``'large'``, ``'huge'``, a published
            family's preset such as ``'dinov2-b14'``, ``'clip-b16'`` or
            ``'sam-l16'`` (see :mod:`.vit_presets`), or a dict with
            ``embed_dims``, ``depth`` and ``num_heads`` (and optionally any
            arch-settable argument).
        img_size (int): input size the model is built for (1024); sets the
            grids of the global relative positions. Other input sizes work:
            position embeddings and tables are resized on the fly.
        patch_size (int): patch side (16).
        in_channels (int): image channels.
        pretrain_img_size (int): image size of pre-training; the absolute
            position embedding is stored at its grid (plus a cls slot).
        use_abs_pos (bool): add the absolute position embedding.
        window_size (int): side of the attention windows (14).
        global_attn_indexes (sequence[int] | None): blocks with global
            attention; None: the last block of each quarter of the depth.
        out_indices (sequence[int] | None): blocks whose outputs are
            returned; default ``global_attn_indexes``.
        rel_pos (str | None): ``'table'`` (one BEiT table shared by the
            windowed blocks, one by the global blocks), ``'decomposed'``
            (ViTDet, SAM: per block) or None.
        qkv_bias (str | None): ``'qkv'``, ``'qv'`` (BEiT) or None.
        layer_scale_init_value (float): layer scale init; 0 off.
        drop_path_rate (float): stochastic depth, linear over the depth.
        mlp_ratio (float): MLP hidden size over the width.
        act_layer (str): the MLP's activation: ``'gelu'``, ``'gelu_tanh'``
            (SigLIP) or ``'quick_gelu'`` (OpenAI CLIP); SwiGLU MLPs use SiLU.
        mlp_layer (str): ``'mlp'``, ``'swiglu'`` (EVA-02, DINOv3 S+/L+/H+)
            or ``'swiglu_packed'`` (DINOv2-g); ``mlp_ratio`` gives the
            hidden width (the packed projection's, for ``'swiglu_packed'``).
        mlp_norm (bool): a norm inside the SwiGLU MLP (EVA-02's ``ffn_ln``).
        attn_norm (bool): a norm of the attention output (EVA's sub-LN).
        norm_cfg (dict): norm layer of the blocks (and of ``norm_pre``).
        pre_norm (bool): a norm after the embeddings, before the blocks
            (CLIP's ``ln_pre``).
        patch_bias (bool): a bias in the patch projection (CLIP has none).
        reg_tokens (int): register tokens of the pre-trained model (DINOv2
            with registers, DINOv3's storage tokens); like its cls token
            they are dropped, and a checkpoint with another number is
            refused.
        rope (str | None): rotary positions: ``'eva'`` (EVA-02),
            ``'dinov3'`` or None. The windowed blocks rotate by the window's
            grid, the global blocks by the whole grid's (see
            docs/families.md for the rule).
        rope_grid (int | None): EVA's rotary reference grid (the
            pre-training grid, 16 for EVA-02); default the position grid of
            ``pretrain_img_size``.
        with_cp (bool): activation checkpointing of every block.
        frozen_stages (int | str): frozen and partial fine-tuning: -1
            (nothing frozen), 0 (the embeddings: patch projection, absolute
            position, ``norm_pre``), ``k`` (the embeddings and blocks
            ``0..k-1``) or ``'all'``. A shared relative-position table is
            frozen with the first frozen block that reads it, so that frozen
            blocks compute a fixed function; a fully frozen backbone runs
            under ``torch.no_grad()`` in eval mode. See
            :class:`~.base.ViTBackboneBase`.
        attn_backend (str | dict): the attention layer: ``'auto'`` (the
            fused CPU kernel on CPU tensors in float32 or bfloat16,
            PyTorch's SDPA otherwise), ``'sdpa'``, ``'cpu_fused'``, or
            ``dict(type=..., **options)`` (see
            :func:`~..layers.attention.attention_layer`).
        init_cfg (dict | None): None for the random init of the scratch
            baseline, or ``dict(type='Pretrained', checkpoint=...)`` with a
            published checkpoint or a converted one, and optionally
            ``format`` (``'auto'``), ``abs_pos_init``, ``rel_pos_init`` and
            ``resample_patch_embed`` (see
            :func:`mmdet_vit_transfer.checkpoints.load_pretrained`).
    """

    EMBEDDING_NAMES = ('patch_embed.', 'pos_embed', 'norm_pre.')
    ABS_POS_NAME = 'pos_embed'

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 1024,
                 patch_size: int = FROM_ARCH,
                 in_channels: int = 3,
                 pretrain_img_size: int = FROM_ARCH,
                 use_abs_pos: bool = FROM_ARCH,
                 window_size: int = FROM_ARCH,
                 global_attn_indexes: Optional[Sequence[int]] = FROM_ARCH,
                 out_indices: Optional[Sequence[int]] = None,
                 rel_pos: Optional[str] = FROM_ARCH,
                 qkv_bias: Optional[str] = FROM_ARCH,
                 layer_scale_init_value: float = FROM_ARCH,
                 drop_path_rate: float = 0.0,
                 mlp_ratio: float = FROM_ARCH,
                 act_layer: str = FROM_ARCH,
                 mlp_layer: str = FROM_ARCH,
                 mlp_norm: bool = FROM_ARCH,
                 attn_norm: bool = FROM_ARCH,
                 norm_cfg: dict = FROM_ARCH,
                 pre_norm: bool = FROM_ARCH,
                 patch_bias: bool = FROM_ARCH,
                 reg_tokens: int = FROM_ARCH,
                 rope: Optional[str] = FROM_ARCH,
                 rope_grid: Optional[int] = FROM_ARCH,
                 with_cp: bool = False,
                 frozen_stages: Union[int, str] = -1,
                 attn_backend: Union[str, dict] = 'auto',
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen_stages=frozen_stages, init_cfg=init_cfg)
        arch = arch_settings(arch, dict(
            patch_size=patch_size, pretrain_img_size=pretrain_img_size,
            use_abs_pos=use_abs_pos, window_size=window_size,
            global_attn_indexes=global_attn_indexes, rel_pos=rel_pos,
            qkv_bias=qkv_bias, layer_scale_init_value=layer_scale_init_value,
            mlp_ratio=mlp_ratio, act_layer=act_layer, mlp_layer=mlp_layer,
            mlp_norm=mlp_norm, attn_norm=attn_norm, norm_cfg=norm_cfg,
            pre_norm=pre_norm, patch_bias=patch_bias, reg_tokens=reg_tokens,
            rope=rope, rope_grid=rope_grid))
        self.family = arch.get('family')
        self.embed_dims = arch['embed_dims']
        self.depth = arch['depth']
        self.num_heads = arch['num_heads']
        self.patch_size = arch['patch_size']
        self.window_size = arch['window_size']
        self.rel_pos = arch['rel_pos']
        self.act_layer = arch['act_layer']
        self.mlp_layer = arch['mlp_layer']
        self.reg_tokens = arch['reg_tokens']
        self.rope_kind = arch['rope']
        self.with_cp = with_cp
        self._check(img_size, arch, drop_path_rate)
        self.global_attn_indexes = self._check_indexes(
            'global_attn_indexes', arch['global_attn_indexes'] if
            arch['global_attn_indexes'] is not None else
            [self.depth // 4 * (i + 1) - 1 for i in range(4)])
        self.out_indices = self._check_indexes(
            'out_indices', self.global_attn_indexes
            if out_indices is None else out_indices)
        if not self.out_indices:
            raise ValueError('out_indices must name at least one block')
        self.grid_hw = (img_size // self.patch_size, ) * 2
        pretrain_grid = arch['pretrain_img_size'] // self.patch_size

        self.patch_embed = PatchEmbed(
            None, self.patch_size, in_channels, self.embed_dims,
            output_fmt='NHWC', bias=arch['patch_bias'])
        # Stored at the pre-training grid with a cls slot (never read); any
        # published layout is fitted to it on load (see the base class).
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + pretrain_grid**2, self.embed_dims)
        ) if arch['use_abs_pos'] else None
        self.norm_pre = (build_norm_layer(arch['norm_cfg'], self.embed_dims)[1]
                         if arch['pre_norm'] else nn.Identity())

        windowed = [
            i not in self.global_attn_indexes and self.window_size > 0
            for i in range(self.depth)
        ]
        tables = self.rel_pos == 'table'
        self.rel_pos_window = RelativePositionTable(
            (self.window_size, ) * 2,
            self.num_heads) if tables and any(windowed) else None
        self.rel_pos_global = RelativePositionTable(
            self.grid_hw, self.num_heads) if tables and not all(windowed) \
            else None
        self.rope = self._build_rope(arch['rope'], arch['rope_grid'] or
                                     pretrain_grid)

        attn_layer = attention_layer(attn_backend)
        self.blocks = nn.ModuleList()
        for i in range(self.depth):
            attn_hw = ((self.window_size, ) * 2
                       if windowed[i] else self.grid_hw)
            self.blocks.append(
                Block(
                    self.embed_dims,
                    self.num_heads,
                    mlp_ratio=arch['mlp_ratio'],
                    qkv_bias=arch['qkv_bias'],
                    drop_path=drop_path_rate * i / max(self.depth - 1, 1),
                    norm_cfg=arch['norm_cfg'],
                    layer_scale_init_value=arch['layer_scale_init_value'],
                    window_size=self.window_size if windowed[i] else 0,
                    decomposed_rel_pos_hw=attn_hw
                    if self.rel_pos == 'decomposed' else None,
                    act_layer=get_act_layer(self.act_layer),
                    attn_layer=attn_layer,
                    mlp_layer=self.mlp_layer,
                    mlp_norm=arch['mlp_norm'],
                    attn_norm=arch['attn_norm']))
        self.freeze_stages()

    def _check(self, img_size: int, arch: dict,
               drop_path_rate: float) -> None:
        check_rel_pos(arch['rel_pos'])
        for name, value in dict(
                img_size=img_size,
                patch_size=arch['patch_size'],
                pretrain_img_size=arch['pretrain_img_size']).items():
            if value < 1:
                raise ValueError(f'{name} must be positive, got {value}')
        if arch['window_size'] < 0:
            raise ValueError(f'window_size must be >= 0 (0: all global), '
                             f"got {arch['window_size']}")
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        if arch['act_layer'] not in ACTIVATIONS:
            raise ValueError(f'act_layer must be one of {ACTIVATIONS}, '
                             f"got {arch['act_layer']!r}")
        if arch['reg_tokens'] < 0:
            raise ValueError(f"reg_tokens must be >= 0, got "
                             f"{arch['reg_tokens']}")
        if arch['mlp_layer'] not in MLP_LAYERS:
            raise ValueError(f'mlp_layer must be one of {MLP_LAYERS}, '
                             f"got {arch['mlp_layer']!r}")
        if arch['rope'] not in (None, *ROPE_KINDS):
            raise ValueError(f'rope must be None or one of {ROPE_KINDS}, '
                             f"got {arch['rope']!r}")
        head_dims = arch['embed_dims'] // arch['num_heads']
        if arch['rope'] and head_dims % 4:
            raise ValueError(f'rotary positions need heads of a multiple of '
                             f'4 channels, got {head_dims}')

    def _build_rope(self, rope: Optional[str],
                    ref_grid: int) -> Optional[nn.Module]:
        if rope is None:
            return None
        head_dims = self.embed_dims // self.num_heads
        if rope == 'eva':
            return EvaRotaryEmbedding(head_dims, ref_grid)
        return Dinov3RotaryEmbedding(head_dims)

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
        if proj.bias is not None:
            nn.init.zeros_(proj.bias)
        for i, block in enumerate(self.blocks, start=1):
            block.attn.proj.weight.data.div_(math.sqrt(2.0 * i))
            block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * i))

    def is_frozen(self, param_name: str) -> bool:
        """The embeddings and first blocks that ``frozen_stages`` names (see
        :class:`~.base.ViTBackboneBase`), and each shared table once a
        frozen block reads it."""
        table = param_name.split('.', 1)[0]
        if table in ('rel_pos_window', 'rel_pos_global'):
            readers = [
                i for i, block in enumerate(self.blocks)
                if bool(block.window_size) == (table == 'rel_pos_window')
            ]
            return readers[0] < self.num_frozen_blocks
        return super().is_frozen(param_name)

    def checkpoint_filter(self, state: dict, report, **options) -> dict:
        """Fit a converted ViT checkpoint to this model (see
        :func:`.plain_vit_checkpoint.filter_plain_vit_state`)."""
        return filter_plain_vit_state(state, self, report, **options)

    def table_biases(self, hw: Tuple[int, int],
                     x: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        """The ``attn_mask`` of the windowed and of the global blocks from
        the shared tables (None without), made once per forward pass for
        inputs like ``x`` on grid ``hw``."""
        # Every block's attention is the same layer: any makes the biases.
        attn = self.blocks[0].attn
        window = global_ = None
        if self.rel_pos_window is not None:
            window = attn.table_bias(
                self.rel_pos_window((self.window_size, ) * 2), x)
        if self.rel_pos_global is not None:
            global_ = attn.table_bias(self.rel_pos_global(hw), x)
        return window, global_

    def rotations(self, hw: Tuple[int, int], device: torch.device
                  ) -> Tuple[Optional[Rotation], ...]:
        """The rotary embedding of the windowed and of the global blocks
        (None without), made once per forward pass for grid ``hw`` on
        ``device``: each
        window is rotated as an image of its own (EVA-02's detection rule,
        baaivision/EVA ``EVA-02/det/.../backbone/vit.py``: one table for the
        window and one for the whole grid)."""
        if self.rope is None:
            return None, None
        windowed = any(block.window_size for block in self.blocks)
        return (self.rope((self.window_size, ) * 2, device)
                if windowed else None, self.rope(hw, device))

    @no_grad_when_fully_frozen
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Args: x ``(B, 3, H, W)``. Returns a tuple of ``(B, C, H/p, W/p)``
        maps, one per entry of ``out_indices``."""
        x = self.patch_embed(x)  # (B, h, w, C)
        hw = tuple(x.shape[1:3])
        if self.pos_embed is not None:
            x = x + resize_abs_pos_embed(self.pos_embed, hw)
        x = self.norm_pre(x)
        window_bias, global_bias = self.table_biases(hw, x)
        window_rope, global_rope = self.rotations(hw, x.device)
        outs = []
        for i, block in enumerate(self.blocks):
            windowed = block.window_size > 0
            x = self.run_block(block, x, window_bias if windowed else
                               global_bias, window_rope if windowed else
                               global_rope)
            if i in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
