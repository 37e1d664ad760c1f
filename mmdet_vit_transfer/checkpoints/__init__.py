"""Published ViT checkpoints (the paper's MAE, DeiT/timm, MoCo v3, BEiT,
mmpretrain zoo; DINOv2, DeiT III, BEiT v2, CLIP, SigLIP, SAM) and iTPN
checkpoints: read safely, converted by format tables and loaded into a
backbone through its own ``checkpoint_filter``, with a report of what was
kept, dropped, resized and left at init. Nothing here imports a model."""
from .formats import (FORMATS, ITPN_FORMATS, convert_checkpoint,
                      detect_format)
from .handoff import check_state_matches, model_state
from .loading import (ABS_POS_INIT_MODES, REL_POS_INIT_MODES, check_keys,
                      convert_file, load_pretrained, pretrained_options,
                      read_checkpoint)
from .report import LoadReport

__all__ = [
    'ABS_POS_INIT_MODES', 'FORMATS', 'ITPN_FORMATS', 'LoadReport',
    'REL_POS_INIT_MODES', 'check_keys', 'check_state_matches',
    'convert_checkpoint', 'convert_file', 'detect_format',
    'load_pretrained', 'model_state',
    'pretrained_options', 'read_checkpoint'
]
