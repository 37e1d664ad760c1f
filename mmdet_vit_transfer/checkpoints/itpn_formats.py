"""Published iTPN checkpoint formats, mapped onto the names of
:class:`~mmdet_vit_transfer.models.backbones.ITPNHiViT`.

Three layouts hold the same network:

- official pixel pre-training (``itpn_pixel``, sunsmarterjie/iTPN,
  ``models_itpn_mim.py``): ``{'model': ...}`` with ``patch_embed``,
  ``absolute_pos_embed`` ``(1, S*S, C)``, ``blocks.{i}`` (MLP blocks, patch
  merges, attention blocks), the pyramid (``align_dim_16tofpn``,
  ``split_16to8``, ``block_16to8``, ``align_dim_16to8``, ``split_8to4``,
  ``block_8to4``, ``align_dim_8to4``, ``fpn_modules``) and the pixel
  decoder (``mask_token``, ``decoder_*``);
- official CLIP-supervised pre-training (``itpn_clip``, ``iTPN_clip``): the
  same encoder and pyramid with layer scale (``gamma_1``/``gamma_2``) and a
  relative-position table per attention block, plus the CLIP heads
  (``decoder_embed``, ``lm_head``, ``lm_cls_head``, ``norm``, ``norm_cls``,
  ``cls_pt_layers``, ``mask_token``);
- mmpretrain (``itpn_mmpretrain``, ``iTPNHiViT`` + ``iTPNPretrainDecoder``):
  ``{'state_dict': ...}`` with ``backbone.<official names>`` (``pos_embed``
  for ``absolute_pos_embed``) and the pyramid under ``neck.``.

The names of the official layout are the model's, so the tables only drop
and, for mmpretrain, strip prefixes. Importing this module registers the
formats in :data:`.formats.FORMATS` and their detection in
:func:`.formats.detect_format`.
"""
import re
from typing import List, Optional

from .formats import EXTRA_FORMAT_DETECTORS, FORMATS, SourceFormat

#: Keys of the integral pyramid (model names).
PYRAMID_KEY = re.compile(
    r'^(align_dim_16tofpn|align_dim_16to8|align_dim_8to4|split_16to8|'
    r'split_8to4|block_16to8|block_8to4|fpn_modules)\.')
_BUFFERS = ((r'relative_position_index$',
             'relative position index (a buffer the model rebuilds)'), )
_CLASSIFIER = ((r'^(fc_norm|head)\.', 'classification head'), )
_PATCH_MERGE = re.compile(r'^(backbone\.)?blocks\.\d+\.reduction\.weight$')
_CLIP_CLUES = re.compile(
    r'^(lm_head|lm_cls_head|norm_cls|cls_pt_layers)\.|gamma_[12]$|'
    r'\.relative_position_bias_table$')

ITPN_FORMATS = {
    'itpn_pixel': SourceFormat(
        'itpn_pixel',
        'official iTPN, pixel pre-training: encoder, pyramid, pixel decoder',
        drops=((r'^mask_token$', 'mask token'),
               (r'^decoder_', 'pixel decoder'), *_CLASSIFIER, *_BUFFERS)),
    'itpn_clip': SourceFormat(
        'itpn_clip',
        'official iTPN, CLIP-supervised pre-training: encoder with layer '
        'scale and relative tables, pyramid, CLIP heads',
        drops=((r'^mask_token$', 'mask token'),
               (r'^decoder_embed\.', 'feature decoder (pyramid levels -> '
                'CLIP target)'),
               (r'^(lm_head|lm_cls_head)\.', 'CLIP prediction heads'),
               (r'^(norm|norm_cls)\.', 'final norms of the pre-training '
                'outputs'),
               (r'^cls_pt_layers\.', 'auxiliary blocks of the pre-training '
                'loss'), *_CLASSIFIER, *_BUFFERS)),
    'itpn_mmpretrain': SourceFormat(
        'itpn_mmpretrain',
        'mmpretrain iTPN: iTPNHiViT backbone and the pyramid of its '
        'iTPNPretrainDecoder neck',
        backbone_prefix=(r'backbone\.|neck\.(?=(align_dim_|split_|block_|'
                         r'fpn_modules\.))'),
        outside_drops=(
            (r'neck\.', 'pre-training decoder (its pyramid is kept)'),
            (r'head\.', 'pre-training head'),
            (r'target_generator\.', 'target generator (CLIP teacher)'),
            (r'data_preprocessor\.', 'data preprocessor'),
        ),
        drops=((r'^mask_token$', 'mask token'), *_BUFFERS),
        renames=((r'^pos_embed$', 'absolute_pos_embed'), )),
}


def detect_itpn_format(keys: List[str]) -> Optional[str]:
    """Name of the iTPN format of a checkpoint with ``keys``, or None when
    it holds no HiViT (no patch merge ``blocks.<i>.reduction``)."""
    if not any(_PATCH_MERGE.match(key) for key in keys):
        return None
    if any(key.startswith('backbone.') for key in keys):
        return 'itpn_mmpretrain'
    if any(_CLIP_CLUES.search(key) for key in keys):
        return 'itpn_clip'
    return 'itpn_pixel'


FORMATS.update(ITPN_FORMATS)
EXTRA_FORMAT_DETECTORS.append(detect_itpn_format)
