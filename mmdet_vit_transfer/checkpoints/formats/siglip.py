"""SigLIP / SigLIP 2 in open_clip's layout: its image tower is timm's ViT
under ``visual.trunk.`` (no cls token, a MAP pooling head ``attn_pool``),
next to the text tower. The same weights in timm's own layout load as
``timm``."""
from .registry import SourceFormat, has_key, register_format

register_format(SourceFormat(
    'open_clip_timm', 'open_clip with a timm image tower (SigLIP, '
    'SigLIP 2): visual.trunk.<timm names>',
    detect=lambda state: has_key(state, r'^visual\.trunk\.blocks\.\d+\.'),
    backbone_prefix=r'visual\.trunk\.',
    outside_drops=(
        (r'visual\.head\.', 'projection into the joint image-text space'),
        (r'text\.', 'text tower'),
        (r'logit_(scale|bias)$', 'contrastive logit scale and bias'),
    )))
