"""BEiT v2 pre-training checkpoints (microsoft/unilm ``beit2``): BEiT's
layout plus the blocks of its cls pre-training (``cls_pt_layers``). Its
fine-tuned checkpoints have BEiT's layout and load as ``beit``."""
from .registry import (LAYER_SCALE_RENAMES, TIMM_DROPS, SourceFormat,
                       has_key, is_plain_vit, register_format)

register_format(SourceFormat(
    'beitv2', 'BEiT v2 pre-training: BEiT layout with cls pre-training '
    'blocks',
    detect=lambda state: is_plain_vit(state) and has_key(
        state, r'^cls_pt_layers\.'),
    drops=((r'^cls_pt_layers\.',
            'blocks of the cls pre-training (BEiT v2)'), *TIMM_DROPS),
    renames=LAYER_SCALE_RENAMES))
