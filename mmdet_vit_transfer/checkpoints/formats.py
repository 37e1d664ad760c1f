"""Published ViT checkpoint formats, mapped onto the names of
:class:`~mmdet_vit_transfer.models.backbones.PlainViTPyramid`.

Each format is a small table: where its backbone lives (a key prefix), which
keys are dropped on purpose and why, and regex renames onto the timm / BEiT
names the backbone uses. The tensor surgeries that depend on the model being
loaded (position embeddings, relative-position tables, qkv biases) are done
at load time, in :mod:`.loading`.
"""
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Tuple

import torch

from .report import LoadReport

# Keys in timm / BEiT names that only pre-training uses.
_TIMM_DROPS = (
    (r'^cls_token$', 'cls token'),
    (r'^dist_token$', 'distillation token'),
    (r'^mask_token$', 'mask token'),
    (r'^decoder_', 'decoder'),
    (r'^(head|head_dist|lm_head|pre_logits)\.', 'pre-training head'),
    (r'^(norm|fc_norm)\.', 'final norm (detection takes block outputs)'),
    (r'relative_position_index$',
     'relative position index (a buffer the model rebuilds)'),
)


@dataclass(frozen=True)
class SourceFormat:
    """Key layout of one published checkpoint format.

    Args:
        name (str): format name, as ``fmt`` of :func:`convert_checkpoint`.
        description (str): where such checkpoints come from.
        backbone_prefix (str): regex matching the start of backbone keys;
            it is stripped from them.
        outside_drops (tuple): ``(regex, reason)`` for keys outside the
            backbone; other such keys are dropped as 'not part of the
            backbone'.
        drops (tuple): ``(regex, reason)`` for backbone keys (prefix
            stripped) that detection does not use.
        renames (tuple): ``(regex, replacement)`` onto the model's names;
            the first that matches applies.
    """
    name: str
    description: str
    backbone_prefix: str = ''
    outside_drops: Tuple[Tuple[str, str], ...] = ()
    drops: Tuple[Tuple[str, str], ...] = _TIMM_DROPS
    renames: Tuple[Tuple[str, str], ...] = ()

    def map_key(self, key: str) -> Tuple[Optional[str], Optional[str]]:
        """Returns ``(model_key, None)`` for a kept key, ``(None, reason)``
        for a dropped one."""
        prefix = re.match(self.backbone_prefix, key)
        if prefix is None:
            for pattern, reason in self.outside_drops:
                if re.match(pattern, key):
                    return None, reason
            return None, 'not part of the backbone'
        key = key[prefix.end():]
        for pattern, reason in self.drops:
            if re.search(pattern, key):
                return None, reason
        for pattern, replacement in self.renames:
            renamed, n = re.subn(pattern, replacement, key, count=1)
            if n:
                return renamed, None
        return key, None


_TIMM = SourceFormat(
    'timm', 'timm names: supervised ViT, or MAE without its decoder')
FORMATS: Dict[str, SourceFormat] = {
    'timm': _TIMM,
    'mae': replace(_TIMM, name='mae',
                   description='MAE: timm names with a decoder'),
    'deit': replace(_TIMM, name='deit',
                    description='DeiT: timm names with a distillation token'),
    'beit': replace(_TIMM, name='beit',
                    description='BEiT: q/v biases, layer scale and relative '
                    'position tables'),
    'mocov3': SourceFormat(
        'mocov3', 'MoCo v3: base encoder of a momentum-contrast model',
        backbone_prefix=r'(module\.)?base_encoder\.',
        outside_drops=(
            (r'(module\.)?momentum_encoder\.', 'momentum encoder'),
            (r'(module\.)?predictor\.', 'predictor (pre-training head)'),
        )),
    'mmpretrain': SourceFormat(
        'mmpretrain', 'mmpretrain zoo: VisionTransformer or BEiTViT',
        backbone_prefix=r'backbone\.',
        outside_drops=(
            (r'neck\.', 'pre-training neck (projector or decoder)'),
            (r'head\.', 'pre-training head'),
            (r'target_generator\.', 'target generator (tokenizer)'),
            (r'(momentum_encoder|target_encoder)\.', 'momentum encoder'),
            (r'data_preprocessor\.', 'data preprocessor'),
        ),
        drops=(
            (r'^cls_token$', 'cls token'),
            (r'^dist_token$', 'distillation token'),
            (r'^mask_token$', 'mask token'),
            (r'^ln[12]\.', 'final norm (detection takes block outputs)'),
            (r'relative_position_index$',
             'relative position index (a buffer the model rebuilds)'),
        ),
        renames=(
            (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
            (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
            (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
            (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
            (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
            # VisionTransformer's LayerScale modules; BEiTViT names its
            # scales gamma_1 / gamma_2 already.
            (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.gamma_1'),
            (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.gamma_2'),
            (r'^layers\.(\d+)\.', r'blocks.\1.'),
        )),
}
#: Detectors of the layouts of other backbones (iTPN: registered by
#: :mod:`.itpn_formats`), ``keys -> format name or None``. They run before
#: the ViT rules, which would take an official iTPN file (``blocks.<i>.``
#: keys) for timm.
EXTRA_FORMAT_DETECTORS: List[Callable[[List[str]], Optional[str]]] = []
_CONTAINERS = ('state_dict', 'model', 'module')
_BEIT_CLUES = ('attn.q_bias', 'relative_position_bias_table', 'gamma_1')


def unwrap_state_dict(raw) -> Tuple[Dict[str, torch.Tensor], str]:
    """The tensor dict inside a loaded checkpoint.

    Args:
        raw: what ``torch.load`` returned.

    Returns:
        tuple: the state dict and the top-level entry it came from
        (``''`` when ``raw`` is the state dict itself).
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f'not a checkpoint: expected a dict of tensors, '
                         f'got {type(raw).__name__}')
    for container in _CONTAINERS:
        if isinstance(raw.get(container), Mapping):
            state, where = raw[container], container
            break
    else:
        state, where = raw, ''
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(
            f'not a checkpoint: no tensors under any of {list(_CONTAINERS)} '
            f'nor at the top level (top-level keys: {list(raw)[:8]})')
    return tensors, where


def detect_format(state: Dict[str, torch.Tensor]) -> str:
    """Name of the format of ``state`` (keys as published), by its keys."""
    keys = list(state)
    for detector in EXTRA_FORMAT_DETECTORS:
        found = detector(keys)
        if found is not None:
            return found

    def has(pattern):
        return any(re.search(pattern, key) for key in keys)

    if has(r'^(module\.)?base_encoder\.'):
        return 'mocov3'
    if has(r'^backbone\.layers\.\d+\.'):
        return 'mmpretrain'
    if has(r'^blocks\.\d+\.'):
        if any(clue in key for key in keys for clue in _BEIT_CLUES):
            return 'beit'
        if has(r'^(decoder_|mask_token$)'):
            return 'mae'
        if has(r'^(dist_token|head_dist\.)'):
            return 'deit'
        return 'timm'
    raise ValueError(
        f'unknown checkpoint format: keys such as {keys[:4]} match none of '
        f'{sorted(FORMATS)}; a ViT checkpoint holds blocks.<i>. '
        f'(timm/BEiT), backbone.layers.<i>. (mmpretrain) or '
        f'module.base_encoder.blocks.<i>. (MoCo v3) keys')


def convert_checkpoint(raw, fmt: str = 'auto'
                       ) -> Tuple[Dict[str, torch.Tensor], LoadReport]:
    """Rename a published checkpoint into the backbone's names.

    Only the backbone is kept; every other key is dropped with its reason in
    the report. Position embeddings and relative-position tables keep the
    checkpoint's shapes: :func:`~.loading.load_pretrained` fits them to a
    model.

    Args:
        raw: a loaded checkpoint (the dict ``torch.load`` returned).
        fmt (str): one of ``FORMATS`` or ``'auto'`` to detect it.

    Returns:
        tuple: ``(state_dict, report)``.
    """
    state, where = unwrap_state_dict(raw)
    detected = fmt == 'auto'
    if detected:
        fmt = detect_format(state)
    elif fmt not in FORMATS:
        raise ValueError(f'unknown checkpoint format {fmt!r}; valid: '
                         f"'auto', {', '.join(map(repr, FORMATS))}")
    source = FORMATS[fmt]
    description = source.description
    if fmt == 'mmpretrain':
        beit = any(clue in k for k in state for clue in _BEIT_CLUES)
        description += ' (BEiTViT)' if beit else ' (VisionTransformer)'
    report = LoadReport(format=fmt, description=description,
                        detected=detected)
    converted = {}
    for key, value in state.items():
        model_key, reason = source.map_key(key)
        if model_key is None:
            report.drop(reason, key)
        else:
            converted[model_key] = value
    if not any(key.startswith('blocks.') for key in converted):
        raise ValueError(
            f'the checkpoint has no transformer blocks in the {fmt} layout; '
            f'it would leave the whole backbone at random init '
            f'(keys such as {list(state)[:4]})')
    if where:
        report.notes.append(f"weights read from the checkpoint's "
                            f"'{where}' entry")
    return converted, report
