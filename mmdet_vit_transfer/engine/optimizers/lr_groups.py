"""The optimizer's parameter groups as a table: for each group, the layer ids
of its parameters (layer-wise lr decay's), its lr multiplier and lr, its
weight decay and how many parameters it holds; frozen parameters (no
gradient, in no group) are counted apart.

:class:`~.layer_decay.LayerDecayOptimWrapperConstructor` logs the table once,
when training builds the optimizer; ``tools/print_lr_groups.py CONFIG``
prints it without training (:func:`config_lr_groups`).
"""
from dataclasses import dataclass
from typing import (Callable, Iterable, List, Optional, Sequence, Tuple,
                    Union)

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

#: ``param_name -> (layer_id, num_layers)``, as a backbone's
#: ``get_layer_depth``.
LayerDepthFn = Callable[[str], Tuple[int, int]]
#: Names shown per row.
NUM_EXAMPLES = 2


def model_layer_depth(model: nn.Module) -> Optional[LayerDepthFn]:
    """The layer ids of a detector's parameters from its backbone's
    ``get_layer_depth(param_name, prefix)``, or None when the backbone has
    none."""
    backbone = getattr(model, 'backbone', None)
    get_layer_depth = getattr(backbone, 'get_layer_depth', None)
    if get_layer_depth is None:
        return None
    return lambda name: get_layer_depth(name, prefix='backbone.')


@dataclass(frozen=True)
class LrGroupRow:
    """One parameter group of the optimizer, or the frozen parameters.

    Args:
        group (str): the group's index, or ``'frozen'``.
        layer_ids (tuple[int]): the layer ids of its parameters, sorted
            (empty without layer ids).
        lr_mult (float | None): lr over the optimizer's base lr.
        lr (float | None): the group's lr (before the schedule scales it).
        weight_decay (float | None): the group's weight decay.
        names (tuple[str]): its parameters' names, in group order.
        num_elements (int): the number of scalar parameters.
    """
    group: str
    layer_ids: Tuple[int, ...]
    lr_mult: Optional[float]
    lr: Optional[float]
    weight_decay: Optional[float]
    names: Tuple[str, ...]
    num_elements: int


def _layer_ids(names: Iterable[str],
               layer_depth: Optional[LayerDepthFn]) -> Tuple[int, ...]:
    if layer_depth is None:
        return ()
    return tuple(sorted({layer_depth(name)[0] for name in names}))


def lr_group_rows(model: nn.Module, param_groups: Sequence[dict],
                  defaults: dict) -> List[LrGroupRow]:
    """The rows of the table: one per parameter group, in order, then the
    frozen parameters (those with ``requires_grad=False``) if any.

    Args:
        model (nn.Module): the model the groups were made for (unwrapped).
        param_groups (sequence[dict]): the optimizer's ``param_groups``.
        defaults (dict): the optimizer's ``lr`` and ``weight_decay``, which
            a group without its own has; the multipliers divide by the lr.
    """
    base_lr = defaults.get('lr')
    names = {id(p): n for n, p in model.named_parameters()}
    layer_depth = model_layer_depth(model)
    rows = []
    for index, group in enumerate(param_groups):
        params = group['params']
        group_names = tuple(names[id(p)] for p in params)
        lr = group.get('lr', base_lr)
        rows.append(
            LrGroupRow(
                group=str(index),
                layer_ids=_layer_ids(group_names, layer_depth),
                lr_mult=lr / base_lr if lr is not None and base_lr else None,
                lr=lr,
                weight_decay=group.get('weight_decay',
                                       defaults.get('weight_decay')),
                names=group_names,
                num_elements=sum(p.numel() for p in params)))
    frozen = [(n, p) for n, p in model.named_parameters()
              if not p.requires_grad]
    if frozen:
        frozen_names = tuple(n for n, _ in frozen)
        rows.append(
            LrGroupRow(
                group='frozen',
                layer_ids=_layer_ids(frozen_names, layer_depth),
                lr_mult=None,
                lr=None,
                weight_decay=None,
                names=frozen_names,
                num_elements=sum(p.numel() for _, p in frozen)))
    return rows


def _id_ranges(ids: Sequence[int]) -> str:
    """``(0, 1, 2, 5)`` -> ``'0-2,5'``; ``'-'`` for none."""
    if not ids:
        return '-'
    spans = []
    start = prev = ids[0]
    for i in (*ids[1:], None):
        if i is not None and i == prev + 1:
            prev = i
            continue
        spans.append(str(start) if start == prev else f'{start}-{prev}')
        start = prev = i
    return ','.join(spans)


def _number(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.4g}'


def format_lr_groups(rows: Sequence[LrGroupRow]) -> str:
    """A markdown table of ``rows`` and a line of totals."""
    lines = [
        '| group | layer ids | lr mult | lr | weight decay | tensors | '
        'parameters | names |', '|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        shown = ', '.join(row.names[:NUM_EXAMPLES])
        more = len(row.names) - NUM_EXAMPLES
        if more > 0:
            shown += f', ... ({more} more)'
        lines.append(
            f'| {row.group} | {_id_ranges(row.layer_ids)} '
            f'| {_number(row.lr_mult)} | {_number(row.lr)} '
            f'| {_number(row.weight_decay)} | {len(row.names)} '
            f'| {row.num_elements:,} | {shown} |')
    trained = sum(r.num_elements for r in rows if r.group != 'frozen')
    frozen = sum(r.num_elements for r in rows if r.group == 'frozen')
    lines.append(f'\ntrained: {trained:,} parameters; frozen: {frozen:,}')
    return '\n'.join(lines)


def config_lr_groups(cfg: Union[str, Config]) -> List[LrGroupRow]:
    """The rows of a config's optimizer, without training: the model is
    built on the meta device (no memory, no weights loaded; what is frozen
    is decided when it is built) and the optimizer by the config's
    ``optim_wrapper``."""
    if not isinstance(cfg, Config):
        cfg = Config.fromfile(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    return lr_group_rows(model, optimizer.param_groups, optimizer.defaults)
