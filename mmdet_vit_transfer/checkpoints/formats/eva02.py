"""EVA-02 (baaivision/EVA, EVA-02): the MIM pre-trained ``.pt`` files
(``eva02_{B,L}_pt_in21k_p14.pt`` and the ``p14to16`` ones its detection
starts from; weights under ``module`` or ``model``) with separate
``attn.q_proj / k_proj / v_proj``, ``q_bias`` / ``v_bias`` and a SwiGLU
``mlp.w1 / w2 / ffn_ln / w3``; and the same weights in timm's layout
(``eva02_*``: ``q_proj.bias``, ``mlp.fc1_g / fc1_x / norm / fc2``). Both
have rotary positions (EVA's), which the model computes."""
import re

import torch

from .registry import (TIMM_DROPS, SourceFormat, has_key, is_plain_vit,
                       register_format)

_Q = re.compile(r'^blocks\.(\d+)\.attn\.q_proj\.weight$')
_DROPS = ((r'(^|\.)rope\.', 'rotary tables (the model computes them)'),
          *TIMM_DROPS)


def fuse_qkv(state, report) -> None:
    """Separate q / k / v projections as the one ``qkv`` the model holds
    (their rows stacked; k has no bias, as in EVA-02)."""
    fused = 0
    for key in [k for k in state if _Q.match(k)]:
        prefix = key[:-len('q_proj.weight')]
        state[prefix + 'qkv.weight'] = torch.cat(
            [state.pop(prefix + f'{name}_proj.weight') for name in 'qkv'])
        fused += 1
    report.notes.append(f'q_proj / k_proj / v_proj of {fused} blocks '
                        f'stacked into qkv')


def _is_eva02(state) -> bool:
    return is_plain_vit(state) and has_key(
        state, r'^blocks\.0\.attn\.q_proj\.weight$')


register_format(SourceFormat(
    'eva02', 'EVA-02: separate q/k/v projections, SwiGLU with ffn_ln, '
    'rotary positions',
    detect=lambda state: _is_eva02(state) and has_key(state, r'\.mlp\.w1\.'),
    drops=_DROPS,
    renames=((r'\.mlp\.w1\.', '.mlp.fc1_g.'), (r'\.mlp\.w2\.', '.mlp.fc1_x.'),
             (r'\.mlp\.ffn_ln\.', '.mlp.norm.'), (r'\.mlp\.w3\.', '.mlp.fc2.'),
             (r'\.attn\.inner_attn_ln\.', '.attn.norm.')),
    rope='eva', surgery=fuse_qkv))

register_format(SourceFormat(
    'eva02_timm', "EVA-02 in timm's layout (eva02_*): separate q/k/v "
    'projections, SwiGLU, rotary positions',
    detect=lambda state: _is_eva02(state) and has_key(state,
                                                      r'\.mlp\.fc1_g\.'),
    drops=_DROPS,
    renames=((r'\.attn\.q_proj\.bias$', '.attn.q_bias'),
             (r'\.attn\.v_proj\.bias$', '.attn.v_bias')),
    rope='eva', surgery=fuse_qkv))
