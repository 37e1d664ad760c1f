"""CLIP image towers: OpenAI's TorchScript archives (openai/CLIP) and
OpenCLIP's state dicts (``.bin`` / ``.safetensors``), both named as OpenAI's
``clip/model.py``: ``visual.conv1`` (no bias), ``visual.class_embedding``,
a 2-d ``visual.positional_embedding``, ``visual.ln_pre``,
``visual.transformer.resblocks.<i>`` with ``attn.in_proj_*``,
``attn.out_proj``, ``mlp.c_fc`` / ``mlp.c_proj``; the text tower and the
projections are dropped."""
from .registry import SourceFormat, has_key, register_format

_OUTSIDE = (
    (r'(transformer|token_embedding|positional_embedding|ln_final|'
     r'text_projection|text)\b', 'text tower'),
    (r'logit_(scale|bias)$', 'contrastive logit scale'),
    (r'(input_resolution|context_length|vocab_size)$',
     "model constants of OpenAI's archive"),
)
_DROPS = (
    (r'^class_embedding$', 'cls token'),
    (r'^ln_post\.', 'final norm (detection takes block outputs)'),
    (r'^proj$', 'projection into the joint image-text space'),
    (r'^attn_pool', 'attention pooling head'),
)
_RENAMES = (
    (r'^conv1\.', 'patch_embed.proj.'),
    (r'^positional_embedding$', 'pos_embed'),
    (r'^ln_pre\.', 'norm_pre.'),
    (r'^transformer\.resblocks\.(\d+)\.ln_1\.', r'blocks.\1.norm1.'),
    (r'^transformer\.resblocks\.(\d+)\.ln_2\.', r'blocks.\1.norm2.'),
    (r'^transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$',
     r'blocks.\1.attn.qkv.weight'),
    (r'^transformer\.resblocks\.(\d+)\.attn\.in_proj_bias$',
     r'blocks.\1.attn.qkv.bias'),
    (r'^transformer\.resblocks\.(\d+)\.attn\.out_proj\.',
     r'blocks.\1.attn.proj.'),
    (r'^transformer\.resblocks\.(\d+)\.mlp\.c_fc\.', r'blocks.\1.mlp.fc1.'),
    (r'^transformer\.resblocks\.(\d+)\.mlp\.c_proj\.', r'blocks.\1.mlp.fc2.'),
    (r'^transformer\.resblocks\.(\d+)\.ls_([12])\.gamma$',
     r'blocks.\1.ls\2.gamma'),
)


def _is_clip(state) -> bool:
    return has_key(state, r'^visual\.transformer\.resblocks\.\d+\.')


register_format(SourceFormat(
    'openai_clip', "OpenAI CLIP: TorchScript archive (QuickGELU)",
    detect=lambda state: _is_clip(state) and 'input_resolution' in state,
    backbone_prefix=r'visual\.', outside_drops=_OUTSIDE, drops=_DROPS,
    renames=_RENAMES, act_layer='quick_gelu'))

register_format(SourceFormat(
    'open_clip', 'OpenCLIP: the image tower of a CLIP model (its '
    'activation is not recorded in the file)',
    detect=lambda state: _is_clip(state) and 'input_resolution' not in state,
    backbone_prefix=r'visual\.', outside_drops=_OUTSIDE, drops=_DROPS,
    renames=_RENAMES))
