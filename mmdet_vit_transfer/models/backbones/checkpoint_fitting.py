"""Fitting a converted checkpoint's position information to a backbone:
what the plain ViT's and iTPN's filters share (timm's
``checkpoint_filter_fn`` is the model side of loading; the format tables of
:mod:`mmdet_vit_transfer.checkpoints` are the file side).

Each function applies one ``abs_pos_init`` / ``rel_pos_init`` mode to the
state dict and records in the report what it kept, dropped or resized.
"""
import math
import re
from typing import Optional, Tuple

import torch

from ...checkpoints.report import LoadReport
from ..layers.vit_geometry import (abs_pos_embed_grid, fit_abs_pos_embed,
                                   resize_decomposed_rel_pos,
                                   resize_relative_table)

DECOMPOSED = re.compile(r'\.rel_pos_[hw]$')


def fit_abs_pos(state, key: str, model_embed: Optional[torch.Tensor],
                mode: str, report: LoadReport, prefer_random: bool = False,
                missing_hint: str = '') -> None:
    """Apply an ``abs_pos_init`` mode to the checkpoint's absolute position
    embedding ``state[key]``.

    Args:
        state (dict): converted checkpoint, changed in place.
        key (str): the embedding's key in ``state`` and in the model.
        model_embed (Tensor | None): the model's embedding (None when it
            is built without one).
        mode (str): 'auto', 'pretrained', 'random' or 'none'.
        report (LoadReport): receives what was done.
        prefer_random (bool): 'auto' keeps the model init even when the
            checkpoint has an embedding (BEiT-style relative tables).
        missing_hint (str): appended to the error of a missing embedding.
    """
    ckpt = state.pop(key, None)
    if model_embed is None:
        if mode not in ('auto', 'none'):
            raise ValueError(f"abs_pos_init={mode!r}, but the model has no "
                             f"absolute position embedding "
                             f"(use_abs_pos=False): use 'none'")
        mode = 'none'
    elif mode == 'none':
        raise ValueError("abs_pos_init='none' needs a model built with "
                         "use_abs_pos=False")
    elif mode == 'auto':
        mode = 'random' if prefer_random or ckpt is None else 'pretrained'
    if mode == 'pretrained':
        if ckpt is None:
            raise ValueError(f"abs_pos_init='pretrained', but the checkpoint "
                             f"has no {key}{missing_hint}: use 'random'")
        state[key] = fit_pos_embed(ckpt, model_embed.shape, report, key)
        return
    if ckpt is not None:
        report.drop(f'absolute position embedding (abs_pos_init={mode!r})',
                    key)
    if mode == 'random':
        report.keep_at_init('absolute position embedding (random)', key)
        report.position['absolute'] = 'random init (the model init is kept)'
    else:
        report.position['absolute'] = 'none'


def fit_pos_embed(pos: torch.Tensor, shape: torch.Size, report: LoadReport,
                  key: str = 'pos_embed') -> torch.Tensor:
    """:func:`~..layers.vit_geometry.fit_abs_pos_embed` (the backbones' load
    pre-hook), with what it did in the report.

    Args:
        pos (Tensor): the embedding in any published layout.
        shape (torch.Size): the model's stored shape.
        report (LoadReport): receives the resize and the position line.
        key (str): the embedding's name, for the report.
    """
    grid, extra = abs_pos_embed_grid(pos)
    fitted = fit_abs_pos_embed(pos, shape)
    stored_slots = 0 if math.isqrt(shape[1])**2 == shape[1] else 1
    dst = math.isqrt(shape[1] - stored_slots)
    src = f'{grid.shape[1]}x{grid.shape[2]}'
    how = f'pre-trained ({src} grid)'
    if grid.shape[1] != dst:
        report.resized.append(
            f'{key}: {tuple(pos.shape)} -> {tuple(fitted.shape)} '
            f'(grid {src} -> {dst}x{dst}, bicubic)')
        how = f'pre-trained ({src} grid resized to {dst}x{dst})'
    if extra.shape[1] != stored_slots:
        report.notes.append(
            f'{key} had {extra.shape[1]} token slot(s) before the grid; the '
            f'model stores {stored_slots}, never read')
    report.position['absolute'] = how
    return fitted


def resolve_table_mode(mode: str, model, has_tables: bool, keys,
                       report: LoadReport) -> str:
    """``rel_pos_init`` for a model with tables: 'zero' or 'pretrained'."""
    if mode == 'none':
        raise ValueError("rel_pos_init='none' needs a model built with "
                         f'rel_pos=None (it has {model.rel_pos!r})')
    if mode == 'auto':
        mode = 'pretrained' if has_tables else 'zero'
    if mode == 'zero':
        if has_tables:
            report.drop("relative position tables (rel_pos_init='zero')",
                        *keys)
        report.position['relative'] = 'zero-initialised tables'
    elif not has_tables:
        raise ValueError("rel_pos_init='pretrained', but the checkpoint has "
                         "no relative position tables: use 'zero'")
    return mode


def resize_table(table: torch.Tensor, src: Tuple[int, int],
                 dst: Tuple[int, int], num_cls_rows: int
                 ) -> Tuple[torch.Tensor, Optional[str]]:
    """The table resized from grid ``src`` to ``dst``, and how (None when
    the grids are the same)."""
    resized = resize_relative_table(table, src, dst, num_cls_rows)
    if src == tuple(dst):
        return resized, None
    cls = f'; the {num_cls_rows} cls rows copied' if num_cls_rows else ''
    return resized, (f'{tuple(table.shape)} -> {tuple(resized.shape)} '
                     f'(offsets of a {src[0]}x{src[1]} grid -> '
                     f'{dst[0]}x{dst[1]}, bicubic{cls})')


def fit_without_tables(state, model, mode: str, table_keys,
                       report: LoadReport, what: str) -> None:
    """``rel_pos_init`` for a model without relative tables (its tables,
    if the checkpoint has some, are already popped: ``table_keys``).

    The model's decomposed relative positions (ViTDet, SAM) come from the
    checkpoint where it has them (SAM; resized linearly to the model's
    windows and grid, as ViTDet resizes them at run time) and ``mode`` is
    'auto' or 'pretrained', else start at zero; a model without relative
    positions takes none.
    """
    expected = model.state_dict()
    decomposed = [key for key in expected if DECOMPOSED.search(key)]
    in_file = [key for key in state if DECOMPOSED.search(key)]
    if not decomposed:
        if mode not in ('auto', 'none'):
            raise ValueError(f'rel_pos_init={mode!r}, but the model has no '
                             f'relative positions (rel_pos={model.rel_pos!r})'
                             f": use 'none'")
        _drop(state, in_file, report, 'decomposed relative positions (the '
              f'model has rel_pos={model.rel_pos!r})')
        if table_keys:
            report.drop(f'{what} (the model has rel_pos={model.rel_pos!r})',
                        *table_keys)
        report.position['relative'] = 'none'
        return
    if mode == 'none':
        raise ValueError("rel_pos_init='none' needs a model built with "
                         f'rel_pos=None (it has {model.rel_pos!r})')
    if table_keys:
        report.drop(f'{what} (the model has rel_pos={model.rel_pos!r})',
                    *table_keys)
    if mode == 'pretrained' and not in_file:
        raise ValueError(
            "rel_pos_init='pretrained', but the checkpoint has no decomposed "
            "relative positions (blocks.<i>.attn.rel_pos_h/w, as SAM's): use "
            "'zero'")
    if mode == 'zero' or not in_file:
        _drop(state, in_file, report,
              "decomposed relative positions (rel_pos_init='zero')")
        report.keep_at_init('decomposed relative positions (zero)',
                            *decomposed)
        report.position['relative'] = 'decomposed, zero init'
        return
    resized = 0
    for key in in_file:
        if key in expected and state[key].shape != expected[key].shape:
            state[key] = resize_decomposed_rel_pos(state[key],
                                                   expected[key].shape[0])
            resized += 1
    if resized:
        report.resized.append(f'blocks.*.attn.rel_pos_h/w (x{resized}): '
                              f'to the model\'s windows and grid (linear)')
    report.position['relative'] = 'pre-trained decomposed (per block)'


def _drop(state, keys, report: LoadReport, reason: str) -> None:
    for key in keys:
        state.pop(key)
    if keys:
        report.drop(reason, *keys)
