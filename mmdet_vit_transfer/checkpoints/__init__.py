"""Published ViT checkpoints (MAE, DeiT/timm, MoCo v3, BEiT, mmpretrain zoo)
converted and loaded into ``PlainViTPyramid``, with a report of what was
kept, dropped, resized and left at init."""
from .formats import FORMATS, convert_checkpoint, detect_format
from .loading import (ABS_POS_MODES, REL_POS_MODES, convert_file,
                      load_pretrained, read_checkpoint)
from .report import LoadReport

__all__ = [
    'ABS_POS_MODES', 'FORMATS', 'LoadReport', 'REL_POS_MODES',
    'convert_checkpoint', 'convert_file', 'detect_format', 'load_pretrained',
    'read_checkpoint'
]
from .handoff import (StrictLoadHook, check_state_matches,
                      fit_detector_state, handoff_checkpoint)

__all__ += [
    'StrictLoadHook', 'check_state_matches', 'fit_detector_state',
    'handoff_checkpoint'
]
from .itpn_formats import ITPN_FORMATS, detect_itpn_format
from .itpn_loading import check_itpn_architecture, load_itpn_pretrained

__all__ += [
    'ITPN_FORMATS', 'check_itpn_architecture', 'detect_itpn_format',
    'load_itpn_pretrained'
]
