"""Published checkpoint formats: the registry (:mod:`.registry`) and one
module per source, each registering its table. See docs/checkpoints.md."""
from . import (beitv2, clip, deit3, dinov2, dinov3, eva02, itpn,  # noqa: F401
               sam, siglip, vit)
from .itpn import ITPN_FORMATS, PYRAMID_KEY
from .registry import (FORMATS, SourceFormat, convert_checkpoint,
                       detect_format, register_format, unwrap_state_dict)

__all__ = [
    'FORMATS', 'ITPN_FORMATS', 'PYRAMID_KEY', 'SourceFormat',
    'convert_checkpoint', 'detect_format', 'register_format',
    'unwrap_state_dict'
]
