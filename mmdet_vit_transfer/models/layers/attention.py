"""Multi-head self-attention of the plain ViT, on channels-last token maps.

:class:`Attention` is detectron2's ViT attention: one fused ``qkv``
projection, optional ViTDet / SAM decomposed relative positions, rotary
positions handed in by the backbone (``rope``, EVA-02, DINOv3), an optional
norm of its output (EVA's sub-LN), and ``scaled_dot_product_attention`` with
an additive ``attn_mask``. Other
attention layers subclass it and change how the product is computed
(:meth:`Attention.attend`), nothing else; they are registered in
``ATTENTION_LAYERS`` and a backbone picks one by name (``attn_backend``),
once, when it is built.
"""
from functools import partial
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .vit_geometry import decomposed_rel_pos_bias, offset_grid_bias

QKV_BIAS_MODES = ('qkv', 'qv', None)


class Attention(nn.Module):
    """Multi-head self-attention over a ``(B, H, W, C)`` token map.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        qkv_bias (str | None): ``'qkv'`` (one bias on the qkv projection),
            ``'qv'`` (BEiT: q and v biases, no k bias) or None.
        decomposed_rel_pos_hw (tuple | None): grid of the per-block
            decomposed relative-position embeddings ``rel_pos_h`` /
            ``rel_pos_w`` (ViTDet, SAM), or None.
        norm_layer (callable, optional): builds the norm of the attention
            output before the projection (``norm``: EVA's sub-LN); None
            for none.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: Optional[str] = 'qkv',
                 decomposed_rel_pos_hw: Optional[Tuple[int, int]] = None,
                 norm_layer: Optional[Callable[[int], nn.Module]] = None):
        super().__init__()
        if qkv_bias not in QKV_BIAS_MODES:
            raise ValueError(f'qkv_bias must be one of {QKV_BIAS_MODES}, '
                             f'got {qkv_bias!r}')
        self.num_heads = num_heads
        head_dims = embed_dims // num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias == 'qkv')
        if qkv_bias == 'qv':
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = self.v_bias = None
        self.norm = (norm_layer(embed_dims)
                     if norm_layer is not None else nn.Identity())
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.use_decomposed_rel_pos = decomposed_rel_pos_hw is not None
        if self.use_decomposed_rel_pos:
            h, w = decomposed_rel_pos_hw
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * h - 1, head_dims))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * w - 1, head_dims))

    def forward(self, x: torch.Tensor,
                attn_mask: Optional[torch.Tensor] = None,
                rope: Optional[Callable] = None) -> torch.Tensor:
        """Attend within each ``(H, W)`` map of ``x`` ``(B, H, W, C)``;
        ``attn_mask`` is an additive bias (a shared relative table's, see
        :meth:`table_bias`) or None; ``rope`` rotates queries and keys (a
        :class:`~.position.Rotation` of the map's grid) or is None."""
        B, H, W, C = x.shape
        bias = self.qkv.bias
        if self.q_bias is not None:
            bias = torch.cat(
                [self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        # (B, N, 3, heads, hd) -> 3 x (B, heads, N, hd)
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(
            B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = rope(q), rope(k)
        if self.use_decomposed_rel_pos:
            # As ViTDet: from the unscaled queries; exclusive with tables.
            attn_mask = decomposed_rel_pos_bias(q, self.rel_pos_h,
                                                self.rel_pos_w, (H, W))
        x = self.attend(q, k, v, attn_mask)
        # (B, heads, N, hd) -> (B, H, W, C)
        return self.proj(self.norm(x.transpose(1, 2).reshape(B, H, W, C)))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               attn_mask) -> torch.Tensor:
        """``softmax(q k^T / sqrt(d) + attn_mask) v`` for ``(B, heads, N,
        hd)`` tensors."""
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)

    def table_bias(self, grid: torch.Tensor, like: torch.Tensor):
        """The ``attn_mask`` of a shared relative-position table, made once
        per forward pass from its offset grid ``(heads, 2H - 1, 2W - 1)``:
        the whole ``(1, heads, H*W, H*W)`` bias in the dtype attention runs
        in for inputs ``like`` (the autocast dtype under autocast)."""
        device = like.device.type
        autocast = (torch.amp.is_autocast_available(device)
                    and torch.is_autocast_enabled(device))
        dtype = torch.get_autocast_dtype(device) if autocast else like.dtype
        return offset_grid_bias(grid).unsqueeze(0).to(dtype)


#: Attention layers by the name a backbone's ``attn_backend`` gives.
ATTENTION_LAYERS: Dict[str, type] = {'sdpa': Attention}


def attention_layer(attn_backend: Union[str, dict]) -> Callable[..., nn.Module]:
    """The attention layer a backbone builds its blocks with.

    Args:
        attn_backend (str | dict): a name of ``ATTENTION_LAYERS``
            (``'sdpa'``: PyTorch's ``scaled_dot_product_attention``;
            ``'cpu_fused'``: the fused CPU kernel, for CPU tensors in float32
            or bfloat16 only), ``'auto'`` (the fused CPU kernel where it
            runs, SDPA elsewhere), or ``dict(type=name, **options)``.

    Returns:
        callable: ``(embed_dims, num_heads, qkv_bias,
        decomposed_rel_pos_hw) -> Attention``.
    """
    options = ({'type': attn_backend} if isinstance(attn_backend, str) else
               dict(attn_backend))
    name = options.pop('type', 'auto')
    if name == 'auto':
        name = 'cpu_fused'
        options.setdefault('strict', False)
    if name not in ATTENTION_LAYERS:
        raise ValueError(f"attn_backend must be one of "
                         f"{['auto', *sorted(ATTENTION_LAYERS)]}, got "
                         f'{name!r}')
    return partial(ATTENTION_LAYERS[name], **options)
