"""Load a published ViT checkpoint into ``PlainViTPyramid`` as the paper
does.

Position information follows Li et al. (2021): every initialisation but BEiT
brings its absolute position embedding and starts the relative-position
tables at zero; BEiT brings its relative-position table (resized into the
window table and into the global table) and starts the absolute embedding at
random. ``abs_pos`` / ``rel_pos`` override that for the paper's ablation.
"""
import argparse
import math
import os
import pickle
import re
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import print_log

from ..models.layers.vit_geometry import (relative_table_size,
                                          resize_abs_pos_embed,
                                          resize_relative_table)
from ..utils.checkpoint_files import mmengine_checkpoint_globals
from .formats import convert_checkpoint
from .itpn_formats import ITPN_FORMATS
from .report import LoadReport, summarize_keys

if TYPE_CHECKING:
    from ..models.backbones import PlainViTPyramid

ABS_POS_MODES = ('auto', 'pretrained', 'random', 'none')
REL_POS_MODES = ('auto', 'pretrained', 'zero', 'none')
#: Loading fails when more of the block parameters would stay at init.
MAX_MISSING_BLOCK_FRACTION = 0.5
SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'
_BLOCK_TABLE = re.compile(r'blocks\.(\d+)\.attn\.relative_position_bias_table')
_REL_POS_TABLES = ('rel_pos_window', 'rel_pos_global')
#: Plain-data classes that training scripts (MAE, BEiT, DeiT ``save_model``)
#: pickle next to the weights; rebuilding them runs no code from the file.
SAFE_CHECKPOINT_GLOBALS = (argparse.Namespace, )
# The weights-only unpickler names the global it refused in one of two
# forms: '... Unsupported global: GLOBAL mod.name was not an allowed ...'
# (a class that could be allow-listed) or 'Trying to load unsupported
# GLOBAL mod.name whose module mod is blocked' (e.g. os, posix, builtins).
_REFUSED_GLOBAL = re.compile(
    r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)')


def read_checkpoint(path: Union[str, os.PathLike]) -> dict:
    """Read a checkpoint file (or URL) without running code from it.

    Args:
        path (str | PathLike): local file, or an ``http(s)://`` URL.

    Returns:
        dict: what the file holds.

    Raises:
        RuntimeError: the file needs arbitrary code to unpickle.
        ValueError: the file is not a PyTorch checkpoint.
    """
    try:
        # mmengine's own checkpoints (a stage-1 detector) carry its types.
        with mmengine_checkpoint_globals(SAFE_CHECKPOINT_GLOBALS):
            if str(path).startswith(('http://', 'https://')):
                return torch.hub.load_state_dict_from_url(
                    str(path), map_location='cpu', weights_only=True)
            return torch.load(path, map_location='cpu', weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except pickle.UnpicklingError as err:
        needed = _REFUSED_GLOBAL.search(str(err))
        if needed is None:
            raise ValueError(f'{path} is not a PyTorch checkpoint (the '
                             f'weights-only unpickler rejects it)') from None
        raise RuntimeError(
            f'{path} needs arbitrary code to unpickle ({needed.group(1)}) '
            f'and is refused: loading it could run code from the file. '
            f'Where the file is trusted, re-save its plain state dict, e.g. '
            f"torch.save({{'model': state_dict}}, path)") from None
    except Exception as err:  # zip, EOF and pickle errors of non-checkpoints
        raise ValueError(f'{path} is not a PyTorch checkpoint '
                         f'({type(err).__name__}: {err})') from None


def convert_file(src: Union[str, os.PathLike], dst: Union[str, os.PathLike],
                 fmt: str = 'auto') -> LoadReport:
    """Convert a published checkpoint file into the backbone's names.

    Writes ``{'state_dict': converted}``: backbone keys without prefix,
    position embeddings and relative tables at the checkpoint's sizes
    (:func:`load_pretrained` fits them to a model).

    Args:
        src (str | PathLike): published checkpoint (file or URL).
        dst (str | PathLike): file to write.
        fmt (str): source format (see ``FORMATS``) or ``'auto'``.

    Returns:
        LoadReport: the format and the keys dropped on the way.
    """
    state, report = convert_checkpoint(read_checkpoint(src), fmt)
    torch.save({'state_dict': state}, dst)
    return report


def pretrained_options(init_cfg: dict) -> dict:
    """Keyword arguments of :func:`load_pretrained` (and
    ``load_itpn_pretrained``) from a backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint, [format, abs_pos,
    rel_pos])``; ValueError for anything else."""
    options = dict(init_cfg)
    options.pop('type', None)
    unknown = set(options) - {'checkpoint', 'format', 'abs_pos', 'rel_pos'}
    if unknown or 'checkpoint' not in options:
        raise ValueError(
            f"init_cfg=dict(type='Pretrained', checkpoint=..., "
            f"[format, abs_pos, rel_pos]) expected, got {init_cfg}")
    return dict(
        checkpoint=options['checkpoint'],
        fmt=options.get('format', 'auto'),
        abs_pos=options.get('abs_pos', 'auto'),
        rel_pos=options.get('rel_pos', 'auto'))


def load_pretrained(model: 'PlainViTPyramid',
                    checkpoint: Union[str, os.PathLike, dict],
                    fmt: str = 'auto',
                    abs_pos: str = 'auto',
                    rel_pos: str = 'auto',
                    logger=None) -> LoadReport:
    """Load a published checkpoint into a ``PlainViTPyramid``.

    Args:
        model (PlainViTPyramid): the backbone, already at its init.
        checkpoint (str | PathLike | dict): file, URL or loaded checkpoint.
        fmt (str): source format (see ``FORMATS``) or ``'auto'``.
        abs_pos (str): absolute position embedding: ``'pretrained'``
            (resized to the model's stored grid), ``'random'`` (the model's
            init is kept), ``'none'`` (for a model built with
            ``use_abs_pos=False``) or ``'auto'``: random for checkpoints with
            a relative-position table (BEiT) or without an absolute
            embedding, pre-trained otherwise.
        rel_pos (str): shared relative-position tables: ``'pretrained'``
            (the checkpoint's table resized into the window and the global
            table), ``'zero'``, ``'none'`` (for a model without shared
            tables) or ``'auto'``: pre-trained when the checkpoint has a
            table, zero otherwise.
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
    if report.format in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds an '
            f'iTPN, which ITPNHiViT loads (load_itpn_pretrained); '
            f'PlainViTPyramid loads plain ViT checkpoints')
    check_architecture(state, model)
    has_table = SHARED_TABLE in state or any(
        _BLOCK_TABLE.fullmatch(key) for key in state)
    _fit_qkv_bias(state, model, report)
    _fit_abs_pos(state, model, abs_pos, has_table, report)
    _fit_rel_pos(state, model, rel_pos, report)
    _check_keys(state, model, report)
    model.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    print_log(f'Pre-trained weights for {type(model).__name__}:\n{report}',
              logger=logger or 'current')
    return report


def check_architecture(state: Dict[str, torch.Tensor], model) -> None:
    """Fail with the found and expected sizes when depth or width differ."""
    blocks = [int(m.group(1)) for key in state
              if (m := re.match(r'blocks\.(\d+)\.', key))]
    depth = max(blocks) + 1
    width = next((state[key].shape[0] for key in (
        'patch_embed.proj.weight', 'blocks.0.norm1.weight',
        'blocks.0.attn.proj.weight') if key in state), None)
    if depth != model.depth or width != model.embed_dims:
        raise ValueError(
            f'checkpoint has {depth} blocks of width {width}; the model has '
            f'{model.depth} of width {model.embed_dims}: build it with the '
            f"checkpoint's arch")


def _fit_qkv_bias(state, model, report: LoadReport) -> None:
    """Attention biases as the model holds them: BEiT's ``q_bias``/``v_bias``
    or one ``qkv.bias``."""
    attn = model.blocks[0].attn
    wants_qv, wants_qkv = attn.q_bias is not None, attn.qkv.bias is not None
    merged = 0
    for i in range(model.depth):
        prefix = f'blocks.{i}.attn.'
        q, v = prefix + 'q_bias', prefix + 'v_bias'
        qkv = prefix + 'qkv.bias'
        if (q in state or qkv in state) and not (wants_qv or wants_qkv):
            raise ValueError(f'the checkpoint has attention biases '
                             f'({q if q in state else qkv}) but the model '
                             f'was built with qkv_bias=None')
        if q in state and v in state and wants_qkv:
            q_bias, v_bias = state.pop(q), state.pop(v)
            state[qkv] = torch.cat([q_bias, torch.zeros_like(q_bias), v_bias])
            merged += 1
        elif qkv in state and wants_qv:
            state[q], _, state[v] = state.pop(qkv).chunk(3)
            report.drop('k part of qkv.bias (softmax ignores a key bias)',
                        qkv)
    if merged:
        report.notes.append(f'q_bias and v_bias of {merged} blocks merged '
                            f'into qkv.bias with a zero k bias')


def _fit_abs_pos(state, model, mode: str, has_table: bool,
                 report: LoadReport) -> None:
    fit_abs_pos_mode(state, 'pos_embed', model.pos_embed, mode, report,
                     _fit_pos_embed, prefer_random=has_table,
                     missing_hint=' (BEiT has none)')


def fit_abs_pos_mode(state, key: str, model_embed: Optional[torch.Tensor],
                     mode: str, report: LoadReport, fit,
                     prefer_random: bool = False,
                     missing_hint: str = '') -> None:
    """Apply an ``abs_pos`` mode to the checkpoint's absolute position
    embedding ``state[key]``, for any backbone.

    Args:
        state (dict): converted checkpoint, changed in place.
        key (str): the embedding's key in ``state`` and in the model.
        model_embed (Tensor | None): the model's embedding (None when it
            is built without one).
        mode (str): 'auto', 'pretrained', 'random' or 'none'.
        report (LoadReport): receives what was done.
        fit (callable): ``(ckpt_embed, model_shape, report) -> tensor``.
        prefer_random (bool): 'auto' keeps the model init even when the
            checkpoint has an embedding (BEiT-style relative tables).
        missing_hint (str): appended to the error of a missing embedding.
    """
    ckpt = state.pop(key, None)
    if model_embed is None:
        if mode not in ('auto', 'none'):
            raise ValueError(f"abs_pos={mode!r}, but the model has no "
                             f"absolute position embedding "
                             f"(use_abs_pos=False): use 'none'")
        mode = 'none'
    elif mode == 'none':
        raise ValueError("abs_pos='none' needs a model built with "
                         "use_abs_pos=False")
    elif mode == 'auto':
        mode = 'random' if prefer_random or ckpt is None else 'pretrained'
    if mode == 'pretrained':
        if ckpt is None:
            raise ValueError(f"abs_pos='pretrained', but the checkpoint has "
                             f"no {key}{missing_hint}: use 'random'")
        state[key] = fit(ckpt, model_embed.shape, report)
        return
    if ckpt is not None:
        report.drop(f'absolute position embedding (abs_pos={mode!r})', key)
    if mode == 'random':
        report.keep_at_init('absolute position embedding (random)', key)
        report.position['absolute'] = 'random init (the model init is kept)'
    else:
        report.position['absolute'] = 'none'


def _fit_pos_embed(pos: torch.Tensor, shape: torch.Size,
                   report: LoadReport) -> torch.Tensor:
    """Checkpoint ``(1, extra + S*S, C)`` -> model ``(1, 1 + T*T, C)``."""
    n = pos.shape[1]
    extra = next((e for e in range(min(n, 3))
                  if math.isqrt(n - e)**2 == n - e), None)
    if pos.dim() != 3 or extra is None:
        raise ValueError(f'pos_embed of shape {tuple(pos.shape)} is not a '
                         f'square grid after 0-2 token slots')
    src, dst = math.isqrt(n - extra), math.isqrt(shape[1] - 1)
    grid = resize_abs_pos_embed(pos, (dst, dst), extra).reshape(
        1, dst * dst, -1)
    # The model keeps one cls slot, which detection never reads.
    cls = pos[:, :1] if extra else torch.zeros_like(pos[:, :1])
    fitted = torch.cat([cls, grid], dim=1)
    how = f'pre-trained ({src}x{src} grid)'
    if src != dst:
        report.resized.append(
            f'pos_embed: {tuple(pos.shape)} -> {tuple(fitted.shape)} '
            f'(grid {src}x{src} -> {dst}x{dst}, bicubic)')
        how = f'pre-trained ({src}x{src} grid resized to {dst}x{dst})'
    if extra != 1:
        report.notes.append(f'pos_embed had {extra} token slot(s) before '
                            f'the grid; the model stores one, never read')
    report.position['absolute'] = how
    return fitted


def _pop_relative_table(state, report: LoadReport
                        ) -> Tuple[Optional[torch.Tensor], List[str]]:
    """The checkpoint's shared table, or one made from per-block tables."""
    per_block = sorted((key for key in state if _BLOCK_TABLE.fullmatch(key)),
                       key=lambda k: int(_BLOCK_TABLE.fullmatch(k).group(1)))
    tables = [state.pop(key) for key in per_block]
    if SHARED_TABLE in state:
        if per_block:
            report.drop('per-block relative tables (the shared one is used)',
                        *per_block)
        return state.pop(SHARED_TABLE), [SHARED_TABLE]
    if not tables:
        return None, []
    stacked = torch.stack(tables)
    if all(torch.equal(t, tables[0]) for t in tables[1:]):
        report.notes.append(f'the {len(tables)} per-block relative tables '
                            f'are identical: used as the shared table')
        return tables[0], per_block
    # The backbone shares one table per attention kind (windowed, global);
    # the per-block tables are averaged into it.
    report.notes.append(f'the {len(tables)} per-block relative tables are '
                        f'averaged into one shared table; per-block '
                        f'differences are lost')
    return stacked.mean(0), per_block


def _table_grid(table: torch.Tensor) -> Tuple[int, int]:
    side = (math.isqrt(table.shape[0] - 3) + 1) // 2
    if relative_table_size((side, side)) != table.shape[0]:
        raise ValueError(f'relative table with {table.shape[0]} rows fits '
                         f'no square grid ((2S-1)^2 + 3 rows)')
    return side, side


def _fit_rel_pos(state, model, mode: str, report: LoadReport) -> None:
    table, keys = _pop_relative_table(state, report)
    targets = {name: getattr(model, name) for name in _REL_POS_TABLES
               if getattr(model, name, None) is not None}
    if model.rel_pos != 'shared_table':
        if mode not in ('auto', 'none'):
            raise ValueError(f'rel_pos={mode!r}, but the model has no shared '
                             f'relative tables (rel_pos={model.rel_pos!r}): '
                             f"use 'none'")
        if table is not None:
            report.drop('relative position table (the model has no shared '
                        'tables)', *keys)
        decomposed = [k for k in model.state_dict()
                      if re.search(r'\.rel_pos_[hw]$', k) and k not in state]
        if decomposed:
            report.keep_at_init('decomposed relative positions (zero)',
                                *decomposed)
        report.position['relative'] = (
            'decomposed, zero init' if decomposed else 'none')
        return
    if mode == 'none':
        raise ValueError("rel_pos='none' needs a model built with "
                         'rel_pos=None')
    if mode == 'auto':
        mode = 'zero' if table is None else 'pretrained'
    if mode == 'zero':
        if table is not None:
            report.drop("relative position table (rel_pos='zero')", *keys)
        for name, module in targets.items():
            state[f'{name}.relative_position_bias_table'] = torch.zeros_like(
                module.relative_position_bias_table)
        report.position['relative'] = 'zero-initialised tables'
        return
    if table is None:
        raise ValueError("rel_pos='pretrained', but the checkpoint has no "
                         "relative position table: use 'zero'")
    if table.shape[1] != model.num_heads:
        raise ValueError(f'the relative table has {table.shape[1]} heads; '
                         f'the model has {model.num_heads}')
    src = _table_grid(table)
    placed = []
    for name, module in targets.items():
        key = f'{name}.relative_position_bias_table'
        state[key] = resize_relative_table(table, src, module.table_hw)
        placed.append(f'{name} {module.table_hw[0]}x{module.table_hw[1]}')
        if module.table_hw != src:
            report.resized.append(
                f'{key}: {tuple(table.shape)} -> {tuple(state[key].shape)} '
                f'(offsets of a {src[0]}x{src[1]} grid -> '
                f'{module.table_hw[0]}x{module.table_hw[1]}, bicubic; '
                f'the 3 cls rows copied)')
    report.position['relative'] = (
        f'pre-trained table of a {src[0]}x{src[1]} grid into '
        f'{", ".join(placed)} (its 3 cls rows copied, never read without a '
        f'cls token)')


def _check_keys(state, model, report: LoadReport) -> None:
    """Fail on keys without a place, wrong shapes or a mostly random
    backbone; record the missing keys."""
    expected = model.state_dict()
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        hint = (' (layer scale: build the model with '
                'layer_scale_init_value > 0)' if any(
                    'gamma_' in key for key in unexpected) else '')
        raise ValueError(f'checkpoint keys with no place in the model: '
                         f'{summarize_keys(unexpected)}{hint}')
    wrong = [f'{key}: checkpoint {tuple(value.shape)}, model '
             f'{tuple(expected[key].shape)}' for key, value in state.items()
             if value.shape != expected[key].shape]
    if wrong:
        raise ValueError('checkpoint tensors of the wrong shape: ' +
                         '; '.join(wrong))
    on_purpose = {key for keys in report.kept_at_init.values()
                  for key in keys}
    report.missing = [key for key in expected
                      if key not in state and key not in on_purpose]
    block_keys = [key for key in expected
                  if key.startswith('blocks.') and key not in on_purpose]
    missing = [key for key in block_keys if key not in state]
    if len(missing) > MAX_MISSING_BLOCK_FRACTION * len(block_keys):
        raise RuntimeError(
            f'the checkpoint would leave {len(missing)} of {len(block_keys)} '
            f'block parameters at random init ({summarize_keys(missing)}); '
            f'is it a {report.format} checkpoint of this architecture?')


def fit_pos_embed(pos: torch.Tensor, shape: torch.Size,
                  report: LoadReport) -> torch.Tensor:
    """Fit an absolute position embedding to a model's stored shape.

    The public form of the resizing that :func:`load_pretrained` applies,
    for other loaders (e.g. the stage-1 -> stage-2 hand-off of
    :mod:`.handoff`).

    Args:
        pos (Tensor): ``(1, extra + S*S, C)`` with 0-2 token slots before
            the grid.
        shape (torch.Size): the model's ``(1, 1 + T*T, C)``.
        report (LoadReport): receives the resize and the position line.

    Returns:
        Tensor: ``(1, 1 + T*T, C)``, the grid resized bicubically.
    """
    return _fit_pos_embed(pos, shape, report)


def relative_table_grid(table: torch.Tensor) -> Tuple[int, int]:
    """Square grid ``(S, S)`` a BEiT relative-position table is made for
    (``(2S-1)^2 + 3`` rows); ValueError when the rows fit none."""
    return _table_grid(table)
