"""Fit a converted iTPN checkpoint to an :class:`~.itpn.ITPNHiViT`: the
model side of loading (see :mod:`.plain_vit_checkpoint` for the plain
ViT's)."""
import re
from typing import Dict

import torch

from ...checkpoints.formats import ITPN_FORMATS, PYRAMID_KEY
from ...checkpoints.report import LoadReport
from ..layers.vit_geometry import relative_table_grid
from .checkpoint_fitting import (fit_abs_pos, fit_without_tables,
                                 resize_table, resolve_table_mode)

_BLOCK = re.compile(r'blocks\.(\d+)\.')
_BLOCK_TABLE = re.compile(r'blocks\.(\d+)\.attn\.relative_position_bias_table')
_PATCH_MERGE = re.compile(r'blocks\.(\d+)\.reduction\.weight')
_PYRAMID_BLOCK = re.compile(r'(block_16to8|block_8to4)\.(\d+)\.')
_LAYER_SCALE = re.compile(r'blocks\.(\d+)\.gamma_([12])')


def filter_itpn_state(state: Dict[str, torch.Tensor],
                      model,
                      report: LoadReport,
                      abs_pos_init: str = 'auto',
                      rel_pos_init: str = 'auto',
                      resample_patch_embed: bool = False
                      ) -> Dict[str, torch.Tensor]:
    """Fit a converted iTPN checkpoint to an ``ITPNHiViT``.

    Encoder and pyramid come from the checkpoint. The absolute embedding is
    resized to the grid the model stores (``pretrain_img_size``);
    CLIP-supervised checkpoints hold one relative table per attention
    block: resized into the model's tables (``rel_pos='table'``), or
    dropped when the model has decomposed relative positions (the published
    CLIP detector, which starts them at zero) or none; pyramid blocks beyond
    the model's ``fpn_depth`` are dropped (the published detection configs
    build one block per level; pixel pre-training has two), and the whole
    pyramid for ``out_type='stages'``.

    Args:
        state (dict): converted checkpoint (model names), changed in place.
        model (ITPNHiViT): the backbone.
        report (LoadReport): receives what was dropped and resized.
        abs_pos_init (str): ``'pretrained'``, ``'random'``, ``'none'`` or
            ``'auto'`` (pre-trained when the checkpoint has one, random
            otherwise); as for the ViT.
        rel_pos_init (str): ``'pretrained'`` (the checkpoint's per-block
            tables resized into the model's; needs ``rel_pos='table'``),
            ``'zero'`` (the model's tables or decomposed positions start at
            zero), ``'none'`` (for a model built with ``rel_pos=None``) or
            ``'auto'``: pre-trained when both have tables, zero for the
            model's own tables or decomposed positions otherwise, none for
            a model without.
        resample_patch_embed (bool): must be False (iTPN's stem has one
            patch size).

    Returns:
        dict: the state dict to load.
    """
    if report.format not in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds a '
            f'plain ViT, which PlainViTPyramid loads; ITPNHiViT loads '
            f'{", ".join(ITPN_FORMATS)}')
    if resample_patch_embed:
        raise ValueError('resample_patch_embed applies to PlainViTPyramid; '
                         'ITPNHiViT has one stem patch size')
    check_itpn_architecture(state, model)
    _rename_layer_scales(state, model)
    _fit_pyramid(state, model, report)
    fit_abs_pos(state, 'absolute_pos_embed', model.absolute_pos_embed,
                abs_pos_init, report)
    _fit_block_tables(state, model, rel_pos_init, report)
    return state


def check_itpn_architecture(state: Dict[str, torch.Tensor], model) -> None:
    """Fail with the found and expected sizes when the HiViT encoder (width,
    MLP blocks at strides 4 and 8, attention blocks) or the pyramid width
    differ from the model's."""
    merges = sorted(int(m.group(1)) for key in state
                    if (m := _PATCH_MERGE.fullmatch(key)))
    if len(merges) != 2:
        raise ValueError(
            f'the checkpoint holds {len(merges)} patch merges '
            f'(blocks.<i>.reduction); a HiViT encoder has 2')
    last = max(int(m.group(1)) for key in state
               if (m := _BLOCK.match(key)))
    depths = (merges[0], merges[1] - merges[0] - 1, last - merges[1])
    width = state[f'blocks.{merges[1]}.reduction.weight'].shape[0]
    if depths != model.depths or width != model.embed_dims:
        raise ValueError(
            f'the checkpoint holds a HiViT of width {width} with depths '
            f'{depths} (MLP blocks at strides 4 and 8, attention blocks); '
            f'the model has width {model.embed_dims} and depths '
            f'{model.depths}: build it with arch=dict(embed_dims={width}, '
            f'depths={depths}, num_heads=...)')
    fpn_norm = state.get('fpn_modules.0.norm2.weight')
    if (model.out_type == 'pyramid' and fpn_norm is not None
            and fpn_norm.shape[0] != model.fpn_dim):
        raise ValueError(
            f'the checkpoint pyramid has {fpn_norm.shape[0]} channels; the '
            f'model has fpn_dim={model.fpn_dim}: build it with '
            f'fpn_dim={fpn_norm.shape[0]}')


def _rename_layer_scales(state, model) -> None:
    """The attention blocks' ``gamma_1`` / ``gamma_2`` (the published
    names) into their ``ls1`` / ``ls2``; the MLP blocks (mmpretrain's) keep
    theirs."""
    for key in list(state):
        m = _LAYER_SCALE.fullmatch(key)
        if m and int(m.group(1)) >= model.num_stem_entries:
            state[f'blocks.{m.group(1)}.ls{m.group(2)}.gamma'] = state.pop(key)


def _fit_pyramid(state, model, report: LoadReport) -> None:
    keys = [key for key in state if PYRAMID_KEY.match(key)]
    if model.out_type == 'stages':
        if keys:
            for key in keys:
                state.pop(key)
            report.drop("integral pyramid (out_type='stages': a randomly "
                        "initialised neck replaces it)", *keys)
        return
    if not keys:
        report.notes.append('the checkpoint has no pyramid: the pyramid '
                            'starts at random init')
        return
    depth = {int(m.group(2)) for key in keys
             if (m := _PYRAMID_BLOCK.match(key))}
    extra = [key for key in keys if (m := _PYRAMID_BLOCK.match(key))
             and int(m.group(2)) >= model.fpn_depth]
    if extra:
        for key in extra:
            state.pop(key)
        report.drop(f'pyramid blocks beyond fpn_depth={model.fpn_depth} '
                    f'(the checkpoint has {max(depth) + 1}; build with '
                    f'fpn_depth={max(depth) + 1} to keep them)', *extra)


def _fit_block_tables(state, model, mode: str, report: LoadReport) -> None:
    keys = sorted((key for key in state if _BLOCK_TABLE.fullmatch(key)),
                  key=lambda k: int(_BLOCK_TABLE.fullmatch(k).group(1)))
    tables = {key: state.pop(key) for key in keys}
    if model.rel_pos != 'table':
        fit_without_tables(state, model, mode, keys, report,
                           'per-block relative tables')
        return
    targets = {
        f'blocks.{i}.attn.relative_position_bias_table': block
        for i, block in enumerate(model.blocks)
        if getattr(block, 'table_hw', None) is not None
    }
    mode = resolve_table_mode(mode, model, bool(tables), keys, report)
    if mode == 'zero':
        for key, block in targets.items():
            state[key] = torch.zeros_like(
                block.attn.relative_position_bias_table)
        return
    resized: Dict[str, int] = {}
    for key, table in tables.items():
        if key not in targets:
            state[key] = table  # no place in the model: the key check says so
            continue
        if table.shape[1] != model.num_heads:
            raise ValueError(f'{key} has {table.shape[1]} heads; the model '
                             f'has {model.num_heads}: build it with '
                             f'num_heads={table.shape[1]}')
        src = relative_table_grid(table.shape[0], num_cls_rows=0)
        state[key], how = resize_table(table, src, targets[key].table_hw, 0)
        if how:
            resized[how] = resized.get(how, 0) + 1
    for how, count in resized.items():
        report.resized.append(
            f'blocks.*.attn.relative_position_bias_table (x{count}): {how}')
    report.position['relative'] = (
        f'pre-trained per-block tables of {len(tables)} blocks')
