"""Fit a converted checkpoint to a backbone: the model side of loading
(timm's ``checkpoint_filter_fn(state_dict, model)``).

:mod:`mmdet_vit_transfer.checkpoints` reads files, maps published names
(its format tables) and reports; the functions here adapt the result to one
model: attention biases, position embeddings and relative tables resized to
its grids, and what the paper's position options keep or drop.

Position information follows Li et al. (2021): every initialisation but BEiT
brings its absolute position embedding and starts the relative-position
tables at zero; BEiT brings its relative-position table (resized into the
window table and into the global table) and starts the absolute embedding
at random. ``abs_pos_init`` / ``rel_pos_init`` override that for the
paper's ablation.
"""
import math
import re
from typing import Dict, Mapping, Optional, Tuple

import torch

from ...checkpoints.handoff import check_state_matches
from ...checkpoints.itpn_formats import ITPN_FORMATS, PYRAMID_KEY
from ...checkpoints.report import LoadReport
from ..layers.vit_geometry import (relative_table_grid,
                                   resize_abs_pos_embed,
                                   resize_decomposed_rel_pos,
                                   resize_relative_table)

SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'
_BLOCK = re.compile(r'blocks\.(\d+)\.')
_BLOCK_TABLE = re.compile(r'blocks\.(\d+)\.attn\.relative_position_bias_table')
_PATCH_MERGE = re.compile(r'blocks\.(\d+)\.reduction\.weight')
_PYRAMID_BLOCK = re.compile(r'(block_16to8|block_8to4)\.(\d+)\.')
_DECOMPOSED = re.compile(r'\.rel_pos_[hw]$')
_POS_EMBED = re.compile(r'(^|\.)pos_embed$')
_RELATIVE_TABLE = re.compile(r'(^|\.)relative_position_bias_table$')
_SHARED_TABLES = ('rel_pos_window', 'rel_pos_global')


# --- the plain ViT ----------------------------------------------------------

def filter_plain_vit_state(state: Dict[str, torch.Tensor],
                           model,
                           report: LoadReport,
                           abs_pos_init: str = 'auto',
                           rel_pos_init: str = 'auto'
                           ) -> Dict[str, torch.Tensor]:
    """Fit a converted ViT checkpoint to a ``PlainViTPyramid``.

    Args:
        state (dict): converted checkpoint (model names), changed in place.
        model (PlainViTPyramid): the backbone.
        report (LoadReport): receives what was merged, dropped, resized.
        abs_pos_init (str): absolute position embedding: ``'pretrained'``
            (resized to the model's stored grid), ``'random'`` (the model's
            init is kept), ``'none'`` (for a model built with
            ``use_abs_pos=False``) or ``'auto'``: random for checkpoints with
            a relative-position table (BEiT) or without an absolute
            embedding, pre-trained otherwise.
        rel_pos_init (str): the shared relative-position tables:
            ``'pretrained'`` (the checkpoint's table resized into the window
            and the global table), ``'zero'``, ``'none'`` (for a model
            without tables) or ``'auto'``: pre-trained when the checkpoint
            has a table, zero otherwise.

    Returns:
        dict: the state dict to load.
    """
    if report.format in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds an '
            f'iTPN, which ITPNHiViT loads; PlainViTPyramid loads plain ViT '
            f'checkpoints')
    check_architecture(state, model)
    has_table = SHARED_TABLE in state or any(
        _BLOCK_TABLE.fullmatch(key) for key in state)
    _fit_qkv_bias(state, model, report)
    fit_abs_pos(state, 'pos_embed', model.pos_embed, abs_pos_init, report,
                prefer_random=has_table, missing_hint=' (BEiT has none)')
    _fit_shared_tables(state, model, rel_pos_init, report)
    return state


def check_architecture(state: Dict[str, torch.Tensor], model) -> None:
    """Fail with the found and expected sizes when depth or width differ."""
    blocks = [int(m.group(1)) for key in state if (m := _BLOCK.match(key))]
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


def _pop_relative_table(state, report: LoadReport):
    """The checkpoint's shared table, or one made from per-block tables,
    and the keys it came from."""
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
    if all(torch.equal(t, tables[0]) for t in tables[1:]):
        report.notes.append(f'the {len(tables)} per-block relative tables '
                            f'are identical: used as the shared table')
        return tables[0], per_block
    # The backbone shares one table per attention kind (windowed, global);
    # the per-block tables are averaged into it.
    report.notes.append(f'the {len(tables)} per-block relative tables are '
                        f'averaged into one shared table; per-block '
                        f'differences are lost')
    return torch.stack(tables).mean(0), per_block


def _fit_shared_tables(state, model, mode: str, report: LoadReport) -> None:
    table, keys = _pop_relative_table(state, report)
    if model.rel_pos != 'table':
        _no_tables_in_model(state, model, mode, bool(keys), keys, report,
                            'relative position table')
        return
    targets = {
        f'{name}.relative_position_bias_table': getattr(model, name)
        for name in _SHARED_TABLES if getattr(model, name, None) is not None
    }
    mode = _resolve_table_mode(mode, model, table is not None, keys, report)
    if mode == 'zero':
        for key, module in targets.items():
            state[key] = torch.zeros_like(module.relative_position_bias_table)
        return
    if table.shape[1] != model.num_heads:
        raise ValueError(f'the relative table has {table.shape[1]} heads; '
                         f'the model has {model.num_heads}')
    src = relative_table_grid(table.shape[0])
    placed = []
    for key, module in targets.items():
        state[key], how = _resize_table(table, src, module.table_hw, 3)
        if how:
            report.resized.append(f'{key}: {how}')
        placed.append(f'{key.split(".")[0]} {module.table_hw[0]}x'
                      f'{module.table_hw[1]}')
    report.position['relative'] = (
        f'pre-trained table of a {src[0]}x{src[1]} grid into '
        f'{", ".join(placed)} (its 3 cls rows copied, never read without a '
        f'cls token)')


# --- iTPN -------------------------------------------------------------------

def filter_itpn_state(state: Dict[str, torch.Tensor],
                      model,
                      report: LoadReport,
                      abs_pos_init: str = 'auto',
                      rel_pos_init: str = 'auto') -> Dict[str, torch.Tensor]:
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

    Returns:
        dict: the state dict to load.
    """
    if report.format not in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds a '
            f'plain ViT, which PlainViTPyramid loads; ITPNHiViT loads '
            f'{", ".join(ITPN_FORMATS)}')
    check_itpn_architecture(state, model)
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
        _no_tables_in_model(state, model, mode, bool(tables), keys, report,
                            'per-block relative tables')
        return
    targets = {
        f'blocks.{i}.attn.relative_position_bias_table': block
        for i, block in enumerate(model.blocks)
        if getattr(block, 'table_hw', None) is not None
    }
    mode = _resolve_table_mode(mode, model, bool(tables), keys, report)
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
        state[key], how = _resize_table(table, src, targets[key].table_hw, 0)
        if how:
            resized[how] = resized.get(how, 0) + 1
    for how, count in resized.items():
        report.resized.append(
            f'blocks.*.attn.relative_position_bias_table (x{count}): {how}')
    report.position['relative'] = (
        f'pre-trained per-block tables of {len(tables)} blocks')


# --- shared by both ---------------------------------------------------------

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
    """Fit an absolute position embedding to a model's stored shape.

    Args:
        pos (Tensor): ``(1, extra + S*S, C)`` with 0-2 token slots before
            the grid.
        shape (torch.Size): the model's ``(1, slots + T*T, C)``: one slot
            (the ViT's cls slot, never read) or none (iTPN).
        report (LoadReport): receives the resize and the position line.
        key (str): the embedding's name, for the report.

    Returns:
        Tensor: of ``shape``, the grid resized bicubically; the model's slot
        from the checkpoint's first one, or zero.
    """
    n = pos.shape[1] if pos.dim() == 3 else 0
    extra = next((e for e in range(min(n, 3))
                  if math.isqrt(n - e)**2 == n - e), None)
    if pos.dim() != 3 or extra is None:
        raise ValueError(f'{key} of shape {tuple(pos.shape)} is not a square '
                         f'grid after 0-2 token slots')
    slots = 0 if math.isqrt(shape[1])**2 == shape[1] else 1
    src, dst = math.isqrt(n - extra), math.isqrt(shape[1] - slots)
    fitted = resize_abs_pos_embed(pos, (dst, dst), extra).reshape(
        1, dst * dst, -1)
    if slots:
        cls = pos[:, :1] if extra else torch.zeros_like(pos[:, :1])
        fitted = torch.cat([cls, fitted], dim=1)
    how = f'pre-trained ({src}x{src} grid)'
    if src != dst:
        report.resized.append(
            f'{key}: {tuple(pos.shape)} -> {tuple(fitted.shape)} '
            f'(grid {src}x{src} -> {dst}x{dst}, bicubic)')
        how = f'pre-trained ({src}x{src} grid resized to {dst}x{dst})'
    if extra != slots:
        report.notes.append(f'{key} had {extra} token slot(s) before the '
                            f'grid; the model stores {slots}, never read')
    report.position['absolute'] = how
    return fitted


def _no_tables_in_model(state, model, mode: str, has_tables: bool, keys,
                        report: LoadReport, what: str) -> None:
    """``rel_pos_init`` for a model without relative tables: its decomposed
    relative positions start at zero, or it has none."""
    decomposed = [key for key in model.state_dict()
                  if _DECOMPOSED.search(key) and key not in state]
    if mode == 'pretrained' and decomposed:
        raise ValueError(
            "rel_pos_init='pretrained', but the model's relative positions "
            "are decomposed (rel_pos='decomposed'), which no checkpoint "
            "holds: use 'zero', or build the model with rel_pos='table'")
    if mode not in ('auto', 'none') and not decomposed:
        raise ValueError(f'rel_pos_init={mode!r}, but the model has no '
                         f'relative positions (rel_pos={model.rel_pos!r}): '
                         f"use 'none'")
    if mode == 'none' and decomposed:
        raise ValueError("rel_pos_init='none' needs a model built with "
                         f'rel_pos=None (it has {model.rel_pos!r})')
    if has_tables:
        report.drop(f'{what} (the model has rel_pos={model.rel_pos!r})',
                    *keys)
    if decomposed:
        report.keep_at_init('decomposed relative positions (zero)',
                            *decomposed)
    report.position['relative'] = ('decomposed, zero init'
                                   if decomposed else 'none')


def _resolve_table_mode(mode: str, model, has_tables: bool, keys,
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


def _resize_table(table: torch.Tensor, src: Tuple[int, int],
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


# --- direct detection pre-training ------------------------------------------

def fit_detector_state(state: Mapping[str, torch.Tensor],
                       target: Mapping[str, torch.Tensor],
                       report: LoadReport) -> Dict[str, torch.Tensor]:
    """Fit a stage-1 detector state dict to the stage-2 detector.

    Position embeddings, relative-position tables and decomposed relative
    positions are resized to the stage-2 shapes; every other tensor is kept
    as it is and must already have its stage-2 shape.

    Args:
        state (Mapping): stage-1 tensors, keyed as the model.
        target (Mapping): the stage-2 model's state dict (only the shapes
            are read, so meta tensors do).
        report (LoadReport): receives what was resized.

    Returns:
        dict: the stage-2 state dict.

    Raises:
        ValueError: the two detectors differ in anything but the token grid.
    """
    fitted, table_grids = {}, []
    for key, value in state.items():
        want = target.get(key)
        if want is None:
            fitted[key] = value  # named by the check below
        elif _POS_EMBED.search(key):
            fitted[key] = fit_pos_embed(value, want.shape, report, key)
        elif value.shape == want.shape:
            fitted[key] = value
        elif _RELATIVE_TABLE.search(key):
            src = relative_table_grid(value.shape[0])
            dst = relative_table_grid(want.shape[0])
            fitted[key], how = _resize_table(value, src, dst, 3)
            report.resized.append(f'{key}: {how}')
            table_grids.append(f'{key.rsplit(".", 2)[-2]} {src[0]}x{src[1]} '
                               f'-> {dst[0]}x{dst[1]}')
        elif _DECOMPOSED.search(key) and value.shape[1:] == want.shape[1:]:
            fitted[key] = resize_decomposed_rel_pos(value, want.shape[0])
            report.resized.append(
                f'{key}: {tuple(value.shape)} -> {tuple(fitted[key].shape)} '
                f'(linear)')
        else:
            fitted[key] = value  # named by the check below
    if table_grids:
        report.position['relative'] = ('stage-1 tables resized: ' +
                                       ', '.join(table_grids))
    check_state_matches(
        fitted, target, 'the stage-1 checkpoint',
        hint='The hand-off resizes only position embeddings and '
        'relative-position tables; stage 2 must be the stage-1 detector '
        '(same architecture, widths, depth, classes) at another resolution')
    return fitted
