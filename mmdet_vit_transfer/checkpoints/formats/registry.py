"""The registry of published checkpoint formats and the conversion of a
checkpoint into a backbone's names.

Each format is a small table (:class:`SourceFormat`): how to recognise its
files from their tensors (a predicate), where its backbone lives (a key
prefix), which keys are dropped on purpose and why, and regex renames onto
the timm names the backbones use. The tensor surgeries that depend on the
model being loaded (position embeddings, relative positions, attention
biases, patch sizes) are the model's: its ``checkpoint_filter``.
"""
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

from ..report import LoadReport

State = Dict[str, torch.Tensor]

#: Keys in timm names that only pre-training or classification uses; the
#: prefix tokens a model brings are dropped by its filter (registers) or
#: here (cls, distillation, mask tokens).
TIMM_DROPS = (
    (r'^cls_token$', 'cls token'),
    (r'^dist_token$', 'distillation token'),
    (r'^mask_token$', 'mask token'),
    (r'^decoder_', 'decoder'),
    (r'^(head|head_dist|lm_head|pre_logits)\.', 'pre-training head'),
    (r'^attn_pool\.', 'attention pooling head (MAP)'),
    (r'^neck\.', "SAM's neck (the detector has its own)"),
    (r'^(norm|fc_norm)\.', 'final norm (detection takes block outputs)'),
    (r'relative_position_index$',
     'relative position index (a buffer the model rebuilds)'),
)
#: BEiT's layer-scale names (``gamma_1`` / ``gamma_2``) onto timm's.
LAYER_SCALE_RENAMES = (
    (r'^blocks\.(\d+)\.gamma_1$', r'blocks.\1.ls1.gamma'),
    (r'^blocks\.(\d+)\.gamma_2$', r'blocks.\1.ls2.gamma'),
)
_PLAIN_BLOCK = re.compile(r'^blocks\.\d+\.')
_PATCH_MERGE = re.compile(r'^(backbone\.)?blocks\.\d+\.reduction\.weight$')


def has_key(state: State, pattern: str) -> bool:
    """Whether a key of ``state`` matches the regex ``pattern`` (search)."""
    return any(re.search(pattern, key) for key in state)


def is_hivit(state: State) -> bool:
    """Whether ``state`` holds a HiViT encoder (iTPN: patch merges between
    its block stages)."""
    return any(_PATCH_MERGE.match(key) for key in state)


def is_plain_vit(state: State) -> bool:
    """Whether ``state`` holds a plain ViT's ``blocks.<i>.`` at its top
    level (timm names)."""
    return (any(_PLAIN_BLOCK.match(key) for key in state)
            and not is_hivit(state))


@dataclass(frozen=True)
class SourceFormat:
    """Key layout of one published checkpoint format.

    Args:
        name (str): format name, as ``fmt`` of :func:`convert_checkpoint`.
        description (str): where such checkpoints come from.
        detect (callable): ``state -> bool``, whether a state dict (keys as
            published) is in this format.
        generic (bool): a layout many formats share (timm's): detected only
            when no specific format matches.
        backbone_prefix (str): regex matching the start of backbone keys;
            it is stripped from them.
        outside_drops (tuple): ``(regex, reason)`` for keys outside the
            backbone; other such keys are dropped as 'not part of the
            backbone'.
        drops (tuple): ``(regex, reason)`` for backbone keys (prefix
            stripped) that detection does not use.
        renames (tuple): ``(regex, replacement)`` onto the model's names;
            the first that matches applies.
        act_layer (str | None): the MLP activation every file of the
            format was trained with, where the format tells (OpenAI's CLIP:
            QuickGELU); the model's must match.
        rope (str | None): the rotary positions of the format's models
            (``'eva'``, ``'dinov3'``); the model's must match.
        surgery (callable | None): ``(state, report) -> None``, the tensor
            surgery after renaming (e.g. separate q/k/v projections fused
            into ``qkv``), for the few layouts that need one.
    """
    name: str
    description: str
    detect: Callable[[State], bool]
    generic: bool = False
    backbone_prefix: str = ''
    outside_drops: Tuple[Tuple[str, str], ...] = ()
    drops: Tuple[Tuple[str, str], ...] = TIMM_DROPS
    renames: Tuple[Tuple[str, str], ...] = ()
    act_layer: Optional[str] = None
    rope: Optional[str] = None
    surgery: Optional[Callable[[State, LoadReport], None]] = None

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


#: Every known format by name; :func:`register_format` adds one.
FORMATS: Dict[str, SourceFormat] = {}


def register_format(fmt: SourceFormat) -> SourceFormat:
    """Add ``fmt`` to ``FORMATS`` (its name must be new)."""
    if fmt.name in FORMATS:
        raise ValueError(f'checkpoint format {fmt.name!r} is registered '
                         f'twice')
    FORMATS[fmt.name] = fmt
    return fmt


_CONTAINERS = ('state_dict', 'model', 'module')


def unwrap_state_dict(raw) -> Tuple[State, str]:
    """The tensor dict inside a loaded checkpoint.

    Args:
        raw: what :func:`~..loading.read_checkpoint` returned.

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


def detect_format(state: State) -> str:
    """Name of the format of ``state`` (keys as published): the one
    specific format whose predicate holds, else the one generic format.

    Raises:
        ValueError: no format, or several, recognise the keys.
    """
    for generic in (False, True):
        found = [fmt.name for fmt in FORMATS.values()
                 if fmt.generic == generic and fmt.detect(state)]
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(
                f'the checkpoint matches several formats ({", ".join(found)}'
                f'): name one with format=... (init_cfg) or --format')
    keys = list(state)
    raise ValueError(
        f'unknown checkpoint format: keys such as {keys[:4]} match none of '
        f'{sorted(FORMATS)}; a ViT checkpoint holds blocks.<i>. (timm, BEiT, '
        f'DINOv2), backbone.layers.<i>. (mmpretrain), module.base_encoder.'
        f' (MoCo v3), visual.transformer.resblocks.<i>. or visual.trunk. '
        f'(CLIP, SigLIP) or image_encoder.blocks.<i>. (SAM) keys')


def convert_checkpoint(raw, fmt: str = 'auto'
                       ) -> Tuple[State, LoadReport]:
    """Rename a published checkpoint into the backbone's names.

    Only the backbone is kept; every other key is dropped with its reason in
    the report. Position embeddings and relative positions keep the
    checkpoint's shapes: the model's filter fits them.

    Args:
        raw: a loaded checkpoint (a dict of tensors, or one holding it
            under ``state_dict``, ``model`` or ``module``).
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
    report = LoadReport(format=fmt, description=source.description,
                        detected=detected, act_layer=source.act_layer,
                        rope=source.rope)
    converted = {}
    for key, value in state.items():
        model_key, reason = source.map_key(key)
        if model_key is None:
            report.drop(reason, key)
        else:
            converted[model_key] = value
    if source.surgery is not None:
        source.surgery(converted, report)
    if not any(key.startswith('blocks.') for key in converted):
        raise ValueError(
            f'the checkpoint has no transformer blocks in the {fmt} layout; '
            f'it would leave the whole backbone at random init '
            f'(keys such as {list(state)[:4]})')
    if where:
        report.notes.append(f"weights read from the checkpoint's "
                            f"'{where}' entry")
    return converted, report
