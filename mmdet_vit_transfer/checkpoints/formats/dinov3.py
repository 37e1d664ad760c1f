"""DINOv3 as its hub publishes it (facebookresearch/dinov3,
``dinov3_vit{s,b,l}16_pretrain_*.pth``, ``dinov3_vit{s,l,h}16plus_...``):
rotary positions with their ``rope_embed.periods``, no absolute embedding,
a cls token and four ``storage_tokens``, ``qkv.bias`` with its
``bias_mask`` (no k bias), layer scale, SwiGLU ``mlp.w1 / w2 / w3`` in the
plus models; and the same weights in timm's layout (``vit_*_dinov3``:
EVA's names ``gamma_1`` / ``gamma_2``, ``q_bias`` / ``v_bias``,
``reg_token``, no periods)."""
import re

from .registry import (LAYER_SCALE_RENAMES, TIMM_DROPS, SourceFormat,
                       has_key, is_plain_vit, register_format)

_BIAS_MASK = re.compile(r'^(blocks\.\d+\.attn\.qkv)\.bias_mask$')


def mask_k_bias(state, report) -> None:
    """``qkv.bias`` times its ``bias_mask`` (DINOv3's ``LinearKMaskedBias``
    zeroes the k part), the mask dropped."""
    masks = [key for key in state if _BIAS_MASK.match(key)]
    for key in masks:
        bias = _BIAS_MASK.match(key).group(1) + '.bias'
        state[bias] = state[bias] * state.pop(key).to(state[bias].dtype)
    if masks:
        report.drop('bias masks (applied to qkv.bias)', *masks)


register_format(SourceFormat(
    'dinov3', 'DINOv3 hub: rotary positions, storage tokens, masked k '
    'bias, layer scale',
    detect=lambda state: is_plain_vit(state) and 'storage_tokens' in state,
    drops=((r'^(local_cls_norm|cls_norm)\.', 'norms of the cls outputs'),
           *TIMM_DROPS),
    renames=((r'^storage_tokens$', 'reg_token'),
             (r'^rope_embed\.periods$', 'rope.periods'),
             (r'\.mlp\.w1\.', '.mlp.fc1_g.'), (r'\.mlp\.w2\.', '.mlp.fc1_x.'),
             (r'\.mlp\.w3\.', '.mlp.fc2.')),
    rope='dinov3', surgery=mask_k_bias))

register_format(SourceFormat(
    'dinov3_timm', "DINOv3 in timm's layout (vit_*_dinov3): EVA's names, "
    'register tokens, no position embedding',
    detect=lambda state: is_plain_vit(state) and 'reg_token' in state
    and 'pos_embed' not in state and has_key(state, r'\.gamma_1$')
    and not has_key(state, r'relative_position_bias_table$'),
    renames=LAYER_SCALE_RENAMES, rope='dinov3'))
