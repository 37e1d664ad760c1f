"""DINOv2 as its hub publishes it (facebookresearch/dinov2,
``dinov2_vit{s,b,l,g}14[_reg4]_pretrain.pth``): timm names with layer scale
(``ls1.gamma``), a 2-d mask token and, with registers, ``register_tokens``.
DINOv2-g's SwiGLU packs gate and value in ``mlp.w12`` (then ``mlp.w3``).
The same weights in timm's layout load as ``timm``."""
from .registry import SourceFormat, has_key, is_plain_vit, register_format

register_format(SourceFormat(
    'dinov2', 'DINOv2 hub: cls and mask tokens, layer scale, optionally '
    'register tokens',
    detect=lambda state: is_plain_vit(state)
    and 'storage_tokens' not in state and ('register_tokens' in state or (
        'mask_token' in state and state['mask_token'].dim() == 2)),
    renames=((r'^register_tokens$', 'reg_token'),
             (r'\.mlp\.w12\.', '.mlp.fc1.'), (r'\.mlp\.w3\.', '.mlp.fc2.'))))
