"""Hand-off of direct detection pre-training: a stage-1 detector checkpoint
becomes the starting point of stage 2.

Stage 1 trains the whole detector from random init on the target set at low
resolution; stage 2 fine-tunes the same detector at full resolution (Li,
Zhang, Zhang, 2021). Everything carries over: backbone, neck, FPN, heads and
BN statistics. Only what is tied to the token grid is fitted to the stage-2
model: the absolute position embedding (bicubic, as for published
checkpoints), BEiT-style relative-position tables and ViTDet's decomposed
relative positions. Any other difference between the two detectors is an
error, as is a stage-2 run whose checkpoint leaves a key at init
(:class:`~.hooks.StrictLoadHook`).
"""
import os
import os.path as osp
import re
from typing import Dict, Mapping, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

from ..checkpoints import LoadReport, check_state_matches, read_checkpoint
from ..checkpoints.handoff import TRAINING_STATE, HandoffReport, model_state
from ..models.backbones.checkpoint_fitting import (DECOMPOSED, fit_pos_embed,
                                                   resize_table)
from ..models.layers.vit_geometry import (relative_table_grid,
                                          resize_decomposed_rel_pos)

_POS_EMBED = re.compile(r'(^|\.)pos_embed$')
_RELATIVE_TABLE = re.compile(r'(^|\.)relative_position_bias_table$')


def build_detector(config: Union[str, os.PathLike, Config]) -> nn.Module:
    """The model of ``config``, built on the meta device (shapes only, no
    memory, no weight init).

    Args:
        config (str | PathLike | Config): a config file or a loaded one;
            its ``custom_imports`` are imported.
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    with torch.device('meta'):
        return MODELS.build(cfg.model)


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
            fitted[key], how = resize_table(value, src, dst, 3)
            report.resized.append(f'{key}: {how}')
            table_grids.append(f'{key.rsplit(".", 2)[-2]} {src[0]}x{src[1]} '
                               f'-> {dst[0]}x{dst[1]}')
        elif DECOMPOSED.search(key) and value.shape[1:] == want.shape[1:]:
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


def handoff_checkpoint(stage1_checkpoint: Union[str, os.PathLike],
                       stage2_config: Union[str, os.PathLike, Config],
                       out: Union[str, os.PathLike]) -> LoadReport:
    """Write the starting point of stage 2 from a stage-1 checkpoint.

    Args:
        stage1_checkpoint (str | PathLike): checkpoint of stage-1 training
            (an mmengine checkpoint, or any file holding the detector's
            ``state_dict``).
        stage2_config (str | PathLike | Config): the stage-2 config; its
            model gives the keys and shapes to fit.
        out (str | PathLike): file to write: ``{'meta': ..., 'state_dict':
            ...}`` with every key of the stage-2 model, for ``load_from``.

    Returns:
        LoadReport: what was kept, dropped and resized.

    Raises:
        ValueError: the checkpoint does not fit the stage-2 detector, or
            ``out`` is the stage-1 file.
    """
    if osp.exists(out) and osp.exists(stage1_checkpoint) and osp.samefile(
            out, stage1_checkpoint):
        raise ValueError(f'out {out} is the stage-1 checkpoint itself; '
                         f'write the hand-off to another file')
    raw = read_checkpoint(stage1_checkpoint)
    if not isinstance(raw, Mapping):
        raise ValueError(f'{stage1_checkpoint} holds a {type(raw).__name__}, '
                         f'not a checkpoint dict')
    state = model_state(raw)
    meta = raw.get('meta') if isinstance(raw.get('meta'), Mapping) else {}
    config_name = str(getattr(stage2_config, 'filename', stage2_config))
    trained = ', '.join(f'{name} {meta[name]}' for name in ('epoch', 'iter')
                        if name in meta)
    report = HandoffReport(
        format='mmengine',
        description=f'stage-1 detector {stage1_checkpoint}' +
        (f' ({trained})' if trained else ''))
    if 'state_dict' in raw:
        for entry in raw:
            if entry not in ('state_dict', 'meta'):
                report.drop(TRAINING_STATE.get(entry, 'not model weights'),
                            entry)
    target = build_detector(stage2_config).state_dict()
    fitted = fit_detector_state(state, target, report)
    report.loaded = sorted(fitted)
    report.notes.append(f'fitted to the model of {config_name}')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    handoff = dict(stage1_checkpoint=str(stage1_checkpoint),
                   stage2_config=config_name)
    handoff.update({f'stage1_{name}': int(meta[name])
                    for name in ('epoch', 'iter') if name in meta})
    torch.save(dict(meta=dict(handoff=handoff), state_dict=fitted), out)
    return report
