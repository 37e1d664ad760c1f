"""Published ViT checkpoints (MAE, DeiT/timm, MoCo v3, BEiT, mmpretrain zoo)
and iTPN checkpoints converted and loaded into this package's backbones,
with a report of what was kept, dropped, resized and left at init; and the
stage-1 -> stage-2 hand-off of direct detection pre-training."""
from .formats import FORMATS, convert_checkpoint, detect_format
from .handoff import (StrictLoadHook, check_state_matches,
                      fit_detector_state, handoff_checkpoint)
from .itpn_formats import ITPN_FORMATS, detect_itpn_format
from .itpn_loading import check_itpn_architecture, load_itpn_pretrained
from .loading import (ABS_POS_MODES, REL_POS_MODES, convert_file,
                      load_pretrained, pretrained_options, read_checkpoint)
from .report import LoadReport

__all__ = [
    'ABS_POS_MODES', 'FORMATS', 'ITPN_FORMATS', 'LoadReport', 'REL_POS_MODES',
    'StrictLoadHook', 'check_itpn_architecture', 'check_state_matches',
    'convert_checkpoint', 'convert_file', 'detect_format',
    'detect_itpn_format', 'fit_detector_state', 'handoff_checkpoint',
    'load_itpn_pretrained', 'load_pretrained', 'pretrained_options',
    'read_checkpoint'
]
