"""SAM as facebookresearch/segment-anything publishes it
(``sam_vit_{b,l,h}_*.pth``): the image encoder under ``image_encoder.``
(``pos_embed`` as a ``(1, 64, 64, C)`` map, decomposed ``rel_pos_h`` /
``rel_pos_w`` per block, ``mlp.lin1`` / ``mlp.lin2``, a ``neck``), the
prompt encoder and the mask decoder. timm's copy of the encoder loads as
``timm``."""
from .registry import SourceFormat, has_key, register_format

register_format(SourceFormat(
    'sam', 'SAM: image encoder, prompt encoder and mask decoder',
    detect=lambda state: has_key(state, r'^image_encoder\.blocks\.\d+\.'),
    backbone_prefix=r'image_encoder\.',
    outside_drops=(
        (r'prompt_encoder\.', 'prompt encoder'),
        (r'mask_decoder\.', 'mask decoder'),
    ),
    renames=((r'^blocks\.(\d+)\.mlp\.lin([12])\.', r'blocks.\1.mlp.fc\2.'),
             )))
