"""Fit a converted checkpoint to a :class:`~.plain_vit.PlainViTPyramid`: the
model side of loading (timm's ``checkpoint_filter_fn(state_dict, model)``).

First the checkpoint's architecture must be the model's: depth and width,
patch size (resampled only when asked), patch bias, pre-block norm, register
tokens, rotary positions, and the MLP activation where the format records
it; a mismatch stops with one line naming what the file has and what the
model expects. A file without any position information (no absolute
embedding, relative positions or rotary periods) comes from a rotary model
and never loads into a model without rotary positions.
Then attention biases, position embeddings and relative positions are
fitted to the model.

Position information follows Li et al. (2021): every initialisation but
BEiT brings its absolute position embedding and starts the relative-position
tables at zero; BEiT brings its relative-position table (resized into the
window table and into the global table) and starts the absolute embedding
at random; SAM brings its decomposed relative positions.
``abs_pos_init`` / ``rel_pos_init`` override that for the paper's ablation.
"""
import re
from typing import Dict

import torch
from timm.layers import resample_patch_embed

from ...checkpoints.formats import ITPN_FORMATS
from ...checkpoints.report import LoadReport
from ..layers.vit_geometry import NUM_CLS_RELATIVE_ENTRIES, relative_table_grid
from .checkpoint_fitting import (fit_abs_pos, fit_without_tables,
                                 resize_table, resolve_table_mode)

SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'
_BLOCK = re.compile(r'blocks\.(\d+)\.')
_BLOCK_TABLE = re.compile(r'blocks\.(\d+)\.attn\.relative_position_bias_table')
_SHARED_TABLES = ('rel_pos_window', 'rel_pos_global')
_PATCH = 'patch_embed.proj.weight'


def filter_plain_vit_state(state: Dict[str, torch.Tensor],
                           model,
                           report: LoadReport,
                           abs_pos_init: str = 'auto',
                           rel_pos_init: str = 'auto',
                           resample_patch_embed: bool = False
                           ) -> Dict[str, torch.Tensor]:
    """Fit a converted ViT checkpoint to a ``PlainViTPyramid``.

    Args:
        state (dict): converted checkpoint (model names), changed in place.
        model (PlainViTPyramid): the backbone.
        report (LoadReport): receives what was merged, dropped, resized.
        abs_pos_init (str): absolute position embedding: ``'pretrained'``
            (fitted to the model's stored grid), ``'random'`` (the model's
            init is kept), ``'none'`` (for a model built with
            ``use_abs_pos=False``) or ``'auto'``: random for checkpoints with
            a relative-position table (BEiT) or without an absolute
            embedding, pre-trained otherwise.
        rel_pos_init (str): relative positions: ``'pretrained'`` (the
            checkpoint's table resized into the window and the global
            table, or its decomposed ones), ``'zero'``, ``'none'`` (for a
            model without) or ``'auto'``: pre-trained when the checkpoint
            has the model's kind, zero otherwise.
        resample_patch_embed (bool): resample a patch embedding of another
            patch size to the model's (FlexiViT's pseudo-inverse resize).

    Returns:
        dict: the state dict to load.
    """
    if report.format in ITPN_FORMATS:
        raise ValueError(
            f'a {report.format} checkpoint ({report.description}) holds an '
            f'iTPN, which ITPNHiViT loads; PlainViTPyramid loads plain ViT '
            f'checkpoints')
    check_architecture(state, model, report)
    _check_rope(state, model, report)
    _fit_patch_embed(state, model, report, resample_patch_embed)
    _drop_registers(state, model, report)
    has_table = SHARED_TABLE in state or any(
        _BLOCK_TABLE.fullmatch(key) for key in state)
    _fit_qkv_bias(state, model, report)
    fit_abs_pos(state, 'pos_embed', model.pos_embed, abs_pos_init, report,
                prefer_random=has_table, missing_hint=' (BEiT has none)')
    _fit_relative_positions(state, model, rel_pos_init, report)
    return state


def check_architecture(state: Dict[str, torch.Tensor], model,
                       report: LoadReport) -> None:
    """Fail with what the checkpoint has and what the model expects when
    depth, width, patch bias, pre-block norm or MLP activation differ."""
    depth = max(int(m.group(1)) for key in state if (m := _BLOCK.match(key)))
    depth += 1
    width = next((state[key].shape[0] for key in (
        _PATCH, 'blocks.0.norm1.weight', 'blocks.0.attn.proj.weight')
                  if key in state), None)
    if depth != model.depth or width != model.embed_dims:
        raise ValueError(
            f'checkpoint has {depth} blocks of width {width}; the model has '
            f'{model.depth} of width {model.embed_dims}: build it with the '
            f"checkpoint's arch")
    model_keys = model.state_dict()
    if 'patch_embed.proj.bias' in model_keys and _PATCH in state and \
            'patch_embed.proj.bias' not in state:
        raise ValueError(
            "the checkpoint's patch projection has no bias (CLIP); the model "
            'has one: build it with patch_bias=False (as the clip presets)')
    if 'norm_pre.weight' in model_keys and 'norm_pre.weight' not in state:
        raise ValueError(
            'the model has a norm before the blocks (pre_norm=True, CLIP\'s '
            'ln_pre) that the checkpoint lacks: build it with pre_norm=False')
    if report.act_layer not in (None, model.act_layer):
        raise ValueError(
            f'the checkpoint ({report.description}) was trained with '
            f"act_layer={report.act_layer!r}; the model has "
            f'act_layer={model.act_layer!r}: build it with '
            f'act_layer={report.act_layer!r}')


def _check_rope(state, model, report: LoadReport) -> None:
    """The checkpoint's rotary positions (its format's; of an unknown kind
    when the file has no position information at all) must be the model's.
    DINOv3's periods load with the weights."""
    has_positions = any(
        key == 'pos_embed' or key.endswith(('relative_position_bias_table',
                                            '.rel_pos_h', 'rope.periods'))
        for key in state)
    found = report.rope or (None if has_positions else 'unknown')
    if found == model.rope_kind or (found == 'unknown' and model.rope_kind):
        pass
    elif found == 'unknown':
        raise ValueError(
            f'the checkpoint ({report.description}) has no absolute '
            f'embedding, relative positions or rotary periods: it comes from '
            f"a model with rotary positions (DINOv3 or EVA in timm's "
            f"layout?); the model was built with rope=None: build it with "
            f"its family's arch preset")
    elif found is None:
        raise ValueError(
            f'the checkpoint ({report.description}) has no rotary '
            f'positions; the model was built with rope={model.rope_kind!r}: '
            f'build it with rope=None')
    else:
        raise ValueError(
            f'the checkpoint ({report.description}) has rotary positions '
            f'({found!r}); the model was built with '
            f'rope={model.rope_kind!r}: '
            f"build it with rope={found!r} (its family's arch preset)")
    if model.rope_kind == 'dinov3' and 'rope.periods' not in state:
        report.keep_at_init('rotary periods (base 100, as DINOv3; the file '
                            'has none)', 'rope.periods')


def _fit_patch_embed(state, model, report: LoadReport,
                     resample: bool) -> None:
    """The patch projection at the model's patch size: refused when it
    differs, unless resampling is asked for."""
    weight = state.get(_PATCH)
    if weight is None:
        return
    size = tuple(weight.shape[-2:])
    want = (model.patch_size, ) * 2
    if size == want:
        if resample:
            report.notes.append(f'resample_patch_embed: the checkpoint is '
                                f'already patch {model.patch_size}')
        return
    if not resample:
        raise ValueError(
            f"the checkpoint's patch embedding is {size[0]}x{size[1]} (patch "
            f'{size[0]}); the model has patch_size={model.patch_size}: build '
            f'it with patch_size={size[0]}, or resample the kernel with '
            f"init_cfg=dict(..., resample_patch_embed=True)")
    state[_PATCH] = resample_patch_embed(weight, list(want))
    report.resized.append(
        f'{_PATCH}: {tuple(weight.shape)} -> {tuple(state[_PATCH].shape)} '
        f'(patch {size[0]} -> {want[0]}, pseudo-inverse resize of '
        f'FlexiViT)')


def _drop_registers(state, model, report: LoadReport) -> None:
    """Register tokens, dropped as the cls token, must be as many as the
    model's preset says (``reg_tokens``)."""
    registers = state.pop('reg_token', None)
    found = 0 if registers is None else registers.shape[1]
    if found != model.reg_tokens:
        raise ValueError(
            f'the checkpoint has {found} register tokens; the model was '
            f'built with reg_tokens={model.reg_tokens}: build it with '
            f'reg_tokens={found} (e.g. arch=' +
            (f"'dinov2-reg{found}-b14')" if found else "'dinov2-b14')"))
    if registers is not None:
        report.drop('register tokens (detection drops them with the cls '
                    'token)', 'reg_token')


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


def _fit_relative_positions(state, model, mode: str,
                            report: LoadReport) -> None:
    table, keys = _pop_relative_table(state, report)
    if model.rel_pos != 'table':
        fit_without_tables(state, model, mode, keys, report,
                           'relative position table')
        return
    decomposed = [key for key in state if key.endswith(('.rel_pos_h',
                                                        '.rel_pos_w'))]
    for key in decomposed:
        state.pop(key)
    if decomposed:
        report.drop("decomposed relative positions (the model has "
                    "rel_pos='table')", *decomposed)
    targets = {
        f'{name}.relative_position_bias_table': getattr(model, name)
        for name in _SHARED_TABLES if getattr(model, name) is not None
    }
    mode = resolve_table_mode(mode, model, table is not None, keys, report)
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
        state[key], how = resize_table(table, src, module.table_hw,
                                       NUM_CLS_RELATIVE_ENTRIES)
        if how:
            report.resized.append(f'{key}: {how}')
        placed.append(f'{key.split(".")[0]} {module.table_hw[0]}x'
                      f'{module.table_hw[1]}')
    report.position['relative'] = (
        f'pre-trained table of a {src[0]}x{src[1]} grid into '
        f'{", ".join(placed)} (its 3 cls rows copied, never read without a '
        f'cls token)')
