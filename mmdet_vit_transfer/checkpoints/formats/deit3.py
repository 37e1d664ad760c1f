"""DeiT III as facebookresearch/deit publishes it (``models_v2.py``):
layer scale as ``gamma_1`` / ``gamma_2`` and a position embedding without
a cls slot. The same weights in timm's layout load as ``timm``."""
from .registry import (LAYER_SCALE_RENAMES, SourceFormat, has_key,
                       is_plain_vit, register_format)

register_format(SourceFormat(
    'deit3', 'DeiT III: layer scale (gamma_1/gamma_2), no cls slot in '
    'pos_embed',
    detect=lambda state: is_plain_vit(state) and 'pos_embed' in state
    and has_key(state, r'\.gamma_1$') and not has_key(
        state, r'\.attn\.q_bias$|relative_position_bias_table$'),
    renames=LAYER_SCALE_RENAMES))
