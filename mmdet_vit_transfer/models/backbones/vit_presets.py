"""The architectures a :class:`~.plain_vit.PlainViTPyramid` is built as
(``arch=``): the paper's ViT sizes, and each published family as its
authors released it.

A preset gives the width, depth and heads and any constructor argument the
family fixes (patch size, the grid of its position embedding, MLP
activation, layer scale, attention biases, norms, prefix tokens, relative
positions); a config overrides any of them by passing the argument. The
sources are in docs/checkpoints.md.
"""
from typing import Dict

#: Layer norm of the families that use PyTorch's default epsilon (CLIP).
LN_EPS_1E5 = dict(type='LN', eps=1e-5)


def _family(family: str, **settings) -> Dict[str, dict]:
    """``settings`` shared by the sizes of one family, tagged with it."""
    return dict(family=family, **settings)


# DINOv2 (facebookresearch/dinov2 hub): patch 14, position grid 37x37
# (518 px) with a cls slot, layer scale; ``-reg4``: four registers.
_DINOV2 = _family('dinov2', patch_size=14, pretrain_img_size=518,
                  layer_scale_init_value=1e-5)
_DINOV2_REG = dict(_DINOV2, family='dinov2_reg', reg_tokens=4)
# DeiT III (facebookresearch/deit models_v2.py): layer scale; the position
# embedding has no cls slot (the loader handles both).
_DEIT3 = _family('deit3', layer_scale_init_value=1e-4)
# BEiT v2 (microsoft/unilm beit2): q/v biases, layer scale, a shared
# relative-position table and no absolute embedding.
_BEITV2 = _family('beitv2', qkv_bias='qv', use_abs_pos=False,
                  rel_pos='table')
# CLIP (openai/CLIP, mlfoundations/open_clip): a norm before the blocks
# (``ln_pre``), a patch projection without bias, LN eps 1e-5; OpenAI's
# models use QuickGELU, OpenCLIP's own ones GELU.
_CLIP = _family('clip', pre_norm=True, patch_bias=False, norm_cfg=LN_EPS_1E5,
                act_layer='quick_gelu')
_OPENCLIP = dict(_CLIP, act_layer='gelu')
# SigLIP / SigLIP 2 (google-research/big_vision): no cls token, GELU with
# the tanh approximation; the MAP pooling head is not part of the backbone.
_SIGLIP = _family('siglip', act_layer='gelu_tanh')
# SAM image encoder (facebookresearch/segment-anything): 1024 px, a 64x64
# position grid, no cls token, windows of 14 with decomposed relative
# positions and global blocks at the end of each quarter.
_SAM = _family('sam', pretrain_img_size=1024, window_size=14,
               rel_pos='decomposed')

# EVA-02 (baaivision/EVA, EVA-02): patch 14 (``p14to16`` files: 16), an
# absolute embedding and rotary positions referred to the 16x16 pre-training
# grid, q/v biases, SwiGLU with a norm before its output layer (``ffn_ln``).
_EVA02 = _family('eva02', patch_size=14, rope='eva', rope_grid=16,
                 qkv_bias='qv', mlp_layer='swiglu', mlp_norm=True,
                 mlp_ratio=4 * 2 / 3)
# DINOv3 (facebookresearch/dinov3 hub): patch 16, rotary positions and no
# absolute embedding, layer scale, LN eps 1e-5, four storage tokens;
# S+/L+/H+ with SwiGLU.
_DINOV3 = _family('dinov3', rope='dinov3', use_abs_pos=False,
                  layer_scale_init_value=1e-5, reg_tokens=4,
                  norm_cfg=LN_EPS_1E5)
_DINOV3_PLUS = dict(_DINOV3, mlp_layer='swiglu')

ARCH_ZOO: Dict[str, dict] = {
    # The paper's sizes.
    'base': dict(embed_dims=768, depth=12, num_heads=12),
    'large': dict(embed_dims=1024, depth=24, num_heads=16),
    'huge': dict(embed_dims=1280, depth=32, num_heads=16),
    'dinov2-s14': dict(_DINOV2, embed_dims=384, depth=12, num_heads=6),
    'dinov2-b14': dict(_DINOV2, embed_dims=768, depth=12, num_heads=12),
    'dinov2-l14': dict(_DINOV2, embed_dims=1024, depth=24, num_heads=16),
    # DINOv2-g: SwiGLU with gate and value packed in one projection (w12).
    'dinov2-g14': dict(_DINOV2, embed_dims=1536, depth=40, num_heads=24,
                       mlp_layer='swiglu_packed', mlp_ratio=16 / 3),
    'dinov2-reg4-s14': dict(_DINOV2_REG, embed_dims=384, depth=12,
                            num_heads=6),
    'dinov2-reg4-b14': dict(_DINOV2_REG, embed_dims=768, depth=12,
                            num_heads=12),
    'dinov2-reg4-l14': dict(_DINOV2_REG, embed_dims=1024, depth=24,
                            num_heads=16),
    'deit3-s16': dict(_DEIT3, embed_dims=384, depth=12, num_heads=6),
    'deit3-b16': dict(_DEIT3, embed_dims=768, depth=12, num_heads=12),
    'deit3-l16': dict(_DEIT3, embed_dims=1024, depth=24, num_heads=16),
    'deit3-h14': dict(_DEIT3, embed_dims=1280, depth=32, num_heads=16,
                      patch_size=14),
    'beitv2-b16': dict(_BEITV2, embed_dims=768, depth=12, num_heads=12,
                       layer_scale_init_value=0.1),
    'beitv2-l16': dict(_BEITV2, embed_dims=1024, depth=24, num_heads=16,
                       layer_scale_init_value=1e-5),
    'clip-b16': dict(_CLIP, embed_dims=768, depth=12, num_heads=12),
    'clip-l14': dict(_CLIP, embed_dims=1024, depth=24, num_heads=16,
                     patch_size=14),
    'openclip-b16': dict(_OPENCLIP, embed_dims=768, depth=12, num_heads=12),
    'openclip-l14': dict(_OPENCLIP, embed_dims=1024, depth=24, num_heads=16,
                         patch_size=14),
    'siglip-b16': dict(_SIGLIP, embed_dims=768, depth=12, num_heads=12),
    'siglip-l16': dict(_SIGLIP, embed_dims=1024, depth=24, num_heads=16,
                       pretrain_img_size=256),
    'siglip-so400m14': dict(_SIGLIP, embed_dims=1152, depth=27,
                            num_heads=16, mlp_ratio=3.7362, patch_size=14),
    'eva02-b14': dict(_EVA02, embed_dims=768, depth=12, num_heads=12),
    'eva02-l14': dict(_EVA02, embed_dims=1024, depth=24, num_heads=16),
    'dinov3-s16': dict(_DINOV3, embed_dims=384, depth=12, num_heads=6),
    'dinov3-b16': dict(_DINOV3, embed_dims=768, depth=12, num_heads=12),
    'dinov3-l16': dict(_DINOV3, embed_dims=1024, depth=24, num_heads=16),
    'dinov3-splus16': dict(_DINOV3_PLUS, embed_dims=384, depth=12,
                           num_heads=6),
    'dinov3-lplus16': dict(_DINOV3_PLUS, embed_dims=1024, depth=24,
                           num_heads=16),
    'dinov3-hplus16': dict(_DINOV3_PLUS, embed_dims=1280, depth=32,
                           num_heads=20),
    'sam-b16': dict(_SAM, embed_dims=768, depth=12, num_heads=12),
    'sam-l16': dict(_SAM, embed_dims=1024, depth=24, num_heads=16),
    'sam-h16': dict(_SAM, embed_dims=1280, depth=32, num_heads=16),
}
