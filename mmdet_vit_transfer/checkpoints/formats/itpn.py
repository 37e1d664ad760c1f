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
and, for mmpretrain, strip prefixes.
"""
import re

from .registry import SourceFormat, has_key, is_hivit, register_format

#: Keys of the integral pyramid (model names).
PYRAMID_KEY = re.compile(
    r'^(align_dim_16tofpn|align_dim_16to8|align_dim_8to4|split_16to8|'
    r'split_8to4|block_16to8|block_8to4|fpn_modules)\.')
_BUFFERS = ((r'relative_position_index$',
             'relative position index (a buffer the model rebuilds)'), )
_CLASSIFIER = ((r'^(fc_norm|head)\.', 'classification head'), )
_CLIP_CLUES = (r'^(lm_head|lm_cls_head|norm_cls|cls_pt_layers)\.|gamma_[12]$|'
               r'\.relative_position_bias_table$')


def _official(state) -> bool:
    return is_hivit(state) and not has_key(state, r'^backbone\.')


def _clip_supervised(state) -> bool:
    return has_key(state, _CLIP_CLUES)


ITPN_FORMATS = {
    'itpn_pixel': SourceFormat(
        'itpn_pixel',
        'official iTPN, pixel pre-training: encoder, pyramid, pixel decoder',
        detect=lambda state: _official(state) and not _clip_supervised(state),
        drops=((r'^mask_token$', 'mask token'),
               (r'^decoder_', 'pixel decoder'), *_CLASSIFIER, *_BUFFERS)),
    'itpn_clip': SourceFormat(
        'itpn_clip',
        'official iTPN, CLIP-supervised pre-training: encoder with layer '
        'scale and relative tables, pyramid, CLIP heads',
        detect=lambda state: _official(state) and _clip_supervised(state),
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
        detect=lambda state: is_hivit(state) and has_key(
            state, r'^backbone\.'),
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
for _fmt in ITPN_FORMATS.values():
    register_format(_fmt)
