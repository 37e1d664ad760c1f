"""Load an iTPN checkpoint (official pixel or CLIP layout, or mmpretrain's)
into :class:`~mmdet_vit_transfer.models.backbones.ITPNHiViT`.

Encoder and pyramid come from the checkpoint, with the same report, errors
and safe reading as the ViT loader (:mod:`.loading`). Position information:

- the absolute embedding, stored at the pre-training grid, is resized to the
  grid the model stores (``pretrain_img_size``);
- CLIP-supervised checkpoints hold one relative table per attention block:
  resized into the model's tables (``rel_pos='table'``), or dropped when the
  model has decomposed relative positions (the published CLIP detector,
  which starts them at zero here) or none;
- pyramid blocks beyond the model's ``fpn_depth`` are dropped (the published
  detection configs build one block per level; pixel pre-training has two),
  and the whole pyramid is dropped for ``out_type='stages'``.
"""
import math
import os
import re
from typing import TYPE_CHECKING, Dict, Union

import torch
from mmengine.logging import print_log

from ..models.layers.hivit_geometry import (hivit_table_grid,
                                            resize_hivit_table)
from ..models.layers.vit_geometry import resize_abs_pos_embed
from .formats import convert_checkpoint
from .itpn_formats import ITPN_FORMATS, PYRAMID_KEY
from .loading import (ABS_POS_MODES, REL_POS_MODES, _check_keys,
                      fit_abs_pos_mode, read_checkpoint)
from .report import LoadReport

if TYPE_CHECKING:
    from ..models.backbones import ITPNHiViT

_BLOCK = re.compile(r'blocks\.(\d+)\.')
_PATCH_MERGE = re.compile(r'blocks\.(\d+)\.reduction\.weight')
_BLOCK_TABLE = re.compile(r'blocks\.(\d+)\.attn\.relative_position_bias_table')
_PYRAMID_BLOCK = re.compile(r'(block_16to8|block_8to4)\.(\d+)\.')


def load_itpn_pretrained(model: 'ITPNHiViT',
                         checkpoint: Union[str, os.PathLike, dict],
                         fmt: str = 'auto',
                         abs_pos: str = 'auto',
                         rel_pos: str = 'auto',
                         logger=None) -> LoadReport:
    """Load an iTPN checkpoint into an ``ITPNHiViT``.

    Args:
        model (ITPNHiViT): the backbone, already at its init.
        checkpoint (str | PathLike | dict): file, URL or loaded checkpoint.
        fmt (str): ``'itpn_pixel'``, ``'itpn_clip'``, ``'itpn_mmpretrain'``
            or ``'auto'`` (detected from the keys).
        abs_pos (str): absolute position embedding: ``'pretrained'``
            (resized to the model's stored grid), ``'random'`` (the model's
            init is kept), ``'none'`` (for a model built with
            ``use_abs_pos=False``) or ``'auto'``: pre-trained when the
            checkpoint has one, random otherwise.
        rel_pos (str): relative positions of the attention blocks:
            ``'pretrained'`` (the checkpoint's per-block tables resized into
            the model's; needs ``rel_pos='table'`` in the model), ``'zero'``
            (the model's tables or decomposed positions start at zero),
            ``'none'`` (for a model built with ``rel_pos=None``) or
            ``'auto'``: pre-trained when both have tables, zero for the
            model's own tables or decomposed positions otherwise, none for
            a model without.
        logger (MMLogger | str | None): where the report goes; the current
            MMLogger by default.

    Returns:
        LoadReport: what was loaded, dropped, resized and left at init.
    """
    for name, value, valid in (('abs_pos', abs_pos, ABS_POS_MODES),
                               ('rel_pos', rel_pos, REL_POS_MODES)):
        if value not in valid:
            raise ValueError(f'{name} must be one of {valid}, got {value!r}')
    raw = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(
        checkpoint)
    state, report = convert_checkpoint(raw, fmt)
    if report.format not in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds a '
            f'plain ViT, which PlainViTPyramid loads; ITPNHiViT loads '
            f'{", ".join(ITPN_FORMATS)}')
    check_itpn_architecture(state, model)
    _fit_pyramid(state, model, report)
    _fit_abs_pos(state, model, abs_pos, report)
    _fit_rel_pos(state, model, rel_pos, report)
    _check_keys(state, model, report)
    model.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    print_log(f'Pre-trained weights for {type(model).__name__}:\n{report}',
              logger=logger or 'current')
    return report


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


def _fit_abs_pos(state, model, mode: str, report: LoadReport) -> None:
    fit_abs_pos_mode(state, 'absolute_pos_embed', model.absolute_pos_embed,
                     mode, report, _fit_grid_embed)


def _fit_grid_embed(pos: torch.Tensor, shape: torch.Size,
                    report: LoadReport) -> torch.Tensor:
    """Checkpoint ``(1, S*S, C)`` -> model ``(1, T*T, C)``, bicubic."""
    src = math.isqrt(pos.shape[1]) if pos.dim() == 3 else 0
    if src * src != pos.shape[1] or pos.dim() != 3:
        raise ValueError(f'absolute_pos_embed of shape {tuple(pos.shape)} '
                         f'is not (1, S*S, C) for a square grid')
    dst = math.isqrt(shape[1])
    fitted = resize_abs_pos_embed(pos, (dst, dst),
                                  num_extra_tokens=0).reshape(1, dst * dst,
                                                              -1)
    how = f'pre-trained ({src}x{src} grid)'
    if src != dst:
        report.resized.append(
            f'absolute_pos_embed: {tuple(pos.shape)} -> '
            f'{tuple(fitted.shape)} (grid {src}x{src} -> {dst}x{dst}, '
            f'bicubic)')
        how = f'pre-trained ({src}x{src} grid resized to {dst}x{dst})'
    report.position['absolute'] = how
    return fitted


def _fit_rel_pos(state, model, mode: str, report: LoadReport) -> None:
    keys = sorted((key for key in state if _BLOCK_TABLE.fullmatch(key)),
                  key=lambda k: int(_BLOCK_TABLE.fullmatch(k).group(1)))
    tables = {key: state.pop(key) for key in keys}
    if model.rel_pos is None:
        if mode not in ('auto', 'none'):
            raise ValueError(f'rel_pos={mode!r}, but the model has no '
                             f"relative positions (rel_pos=None): use 'none'")
        if tables:
            report.drop('per-block relative tables (the model has none, '
                        'rel_pos=None)', *keys)
        report.position['relative'] = 'none'
        return
    if mode == 'none':
        raise ValueError(f"rel_pos='none' needs a model built with "
                         f'rel_pos=None (it has {model.rel_pos!r})')
    if model.rel_pos == 'decomposed':
        if mode == 'pretrained':
            raise ValueError(
                "rel_pos='pretrained', but the model's relative positions "
                "are decomposed (rel_pos='decomposed'), which no iTPN "
                "checkpoint holds: use 'zero', or build the model with "
                "rel_pos='table'")
        if tables:
            report.drop('per-block relative tables (the model has '
                        "decomposed relative positions)", *keys)
        decomposed = [key for key in model.state_dict()
                      if re.search(r'\.rel_pos_[hw]$', key)
                      and key not in state]
        report.keep_at_init('decomposed relative positions (zero)',
                            *decomposed)
        report.position['relative'] = 'decomposed, zero init'
        return
    targets = {
        f'blocks.{i}.attn.relative_position_bias_table': block
        for i, block in enumerate(model.blocks)
        if getattr(block, 'table_hw', None) is not None
    }
    if mode == 'auto':
        mode = 'pretrained' if tables else 'zero'
    if mode == 'zero':
        if tables:
            report.drop("per-block relative tables (rel_pos='zero')", *keys)
        for key, block in targets.items():
            state[key] = torch.zeros_like(
                block.attn.relative_position_bias_table)
        report.position['relative'] = 'zero-initialised tables'
        return
    if not tables:
        raise ValueError("rel_pos='pretrained', but the checkpoint has no "
                         "relative position tables: use 'zero'")
    resized: Dict[str, int] = {}
    for key, table in tables.items():
        if key not in targets:
            state[key] = table  # no place in the model: _check_keys says so
            continue
        if table.shape[1] != model.num_heads:
            raise ValueError(f'{key} has {table.shape[1]} heads; the model '
                             f'has {model.num_heads}: build it with '
                             f'num_heads={table.shape[1]}')
        src, dst = hivit_table_grid(table.shape[0]), targets[key].table_hw
        state[key] = resize_hivit_table(table, src, dst)
        if src != dst:
            how = (f'{tuple(table.shape)} -> {tuple(state[key].shape)} '
                   f'(offsets of a {src[0]}x{src[1]} grid -> '
                   f'{dst[0]}x{dst[1]}, bicubic)')
            resized[how] = resized.get(how, 0) + 1
    for how, count in resized.items():
        report.resized.append(
            f'blocks.*.attn.relative_position_bias_table (x{count}): {how}')
    report.position['relative'] = (
        f'pre-trained per-block tables of {len(tables)} blocks')
