"""Hand-off of direct detection pre-training: a stage-1 detector checkpoint
becomes the starting point of stage 2, and stage 2 refuses any start that
does not fill its whole model.

Stage 1 trains the whole detector from random init on the target set at low
resolution; stage 2 fine-tunes the same detector at full resolution (Li,
Zhang, Zhang, 2021). Everything carries over: backbone, neck, FPN, heads and
BN statistics. Only what is tied to the token grid is fitted to the stage-2
model: the absolute position embedding (bicubic, as for published
checkpoints), BEiT-style relative-position tables and ViTDet's decomposed
relative positions. Any other difference between the two detectors is an
error, as is a stage-2 run whose checkpoint leaves a key at init.
"""
import os
import os.path as osp
import re
from typing import Dict, Mapping, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope
from mmdet.registry import HOOKS, MODELS

from ..models.layers.vit_geometry import (resize_decomposed_rel_pos,
                                          resize_relative_table)
from .loading import fit_pos_embed, read_checkpoint, relative_table_grid
from .report import LoadReport, summarize_keys

#: Top-level entries of an mmengine checkpoint that stage 2 does not take.
TRAINING_STATE = {
    'optimizer': 'optimizer state (stage 2 builds its own)',
    'param_schedulers': 'lr schedule state (stage 2 runs its own)',
    'message_hub': 'training log state',
}
HANDOFF_HINT = ('Write the stage-2 starting point with `python '
                'tools/handoff_checkpoint.py STAGE1_CKPT STAGE2_CONFIG OUT` '
                'and set load_from=OUT')
_POS_EMBED = re.compile(r'(^|\.)pos_embed$')
_RELATIVE_TABLE = re.compile(r'(^|\.)relative_position_bias_table$')
_DECOMPOSED = re.compile(r'\.rel_pos_[hw]$')
# mmengine's loader strips a DistributedDataParallel prefix
# (Runner.load_checkpoint's default revise_keys); the checks do the same.
_WRAPPER_PREFIX = re.compile(r'^module\.')


class HandoffReport(LoadReport):
    """:class:`LoadReport` of a whole detector rather than a backbone."""

    def __str__(self) -> str:
        return super().__str__().replace(
            f'Loaded {len(self.loaded)} tensors into the backbone.',
            f'Loaded {len(self.loaded)} tensors into the detector.')


def model_state(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The weights mmengine's ``Runner.load_checkpoint`` puts into the model.

    Args:
        checkpoint (Mapping): a loaded checkpoint: ``{'state_dict': ...,
            ...}`` as mmengine writes it, or a bare state dict.

    Returns:
        dict: name -> tensor, without a ``module.`` prefix, as mmengine
        reads them (its ``revise_keys`` default).
    """
    state = checkpoint.get('state_dict', checkpoint)
    return {_WRAPPER_PREFIX.sub('', key): value
            for key, value in state.items()}


def check_state_matches(state: Mapping[str, torch.Tensor],
                        expected: Mapping[str, torch.Tensor], source: str,
                        hint: str = '') -> None:
    """Fail unless ``state`` has exactly the keys of ``expected``, each with
    its shape.

    Args:
        state (Mapping): the tensors to load.
        expected (Mapping): the model's state dict.
        source (str): what ``state`` is, for the message.
        hint (str): what to do about a mismatch, appended to the message.

    Raises:
        ValueError: listing the missing keys, the keys without a place in
            the model and the tensors of another shape.
    """
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        f'{key}: {tuple(state[key].shape)} in {source}, '
        f'{tuple(expected[key].shape)} in the model' for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} model keys missing from it '
                        f'({summarize_keys(missing)})')
    if unexpected:
        problems.append(f'{len(unexpected)} keys with no place in the model '
                        f'({summarize_keys(unexpected)})')
    if wrong:
        problems.append(f'{len(wrong)} tensors of another shape '
                        f'({"; ".join(wrong)})')
    if problems:
        raise ValueError(f'{source} does not match the model: ' +
                         '; '.join(problems) + (f'. {hint}' if hint else ''))


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
            fitted[key] = fit_pos_embed(value, want.shape, report)
        elif value.shape == want.shape:
            fitted[key] = value
        elif _RELATIVE_TABLE.search(key):
            src, dst = relative_table_grid(value), relative_table_grid(want)
            fitted[key] = resize_relative_table(value, src, dst)
            report.resized.append(
                f'{key}: {tuple(value.shape)} -> {tuple(fitted[key].shape)} '
                f'(offsets of a {src[0]}x{src[1]} grid -> {dst[0]}x{dst[1]}, '
                f'bicubic; the 3 cls rows copied)')
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


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Start training only from a checkpoint that fills the whole model.

    mmengine's ``load_from`` loads non-strictly: missing, extra or reshaped
    keys are logged as a warning and left at init. Stage 2 of direct
    detection pre-training must start from the whole stage-1 detector, so
    this hook checks every loaded checkpoint before its weights go into the
    model, and refuses a training run that loaded none.
    """

    # Last, so that it checks the checkpoint as other hooks leave it.
    priority = 'VERY_LOW'

    def __init__(self):
        self.loaded = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise ValueError unless ``checkpoint`` has exactly the model's
        keys and shapes."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        expected = model.state_dict()
        check_state_matches(
            model_state(checkpoint), expected,
            f'the checkpoint (load_from={runner.cfg.get("load_from")!r})',
            hint=HANDOFF_HINT)
        self.loaded = True
        print_log(f'{type(self).__name__}: the checkpoint fills all '
                  f'{len(expected)} tensors of the model', logger='current')

    def before_train(self, runner) -> None:
        """Raise RuntimeError when training would start from random init."""
        if not self.loaded:
            raise RuntimeError(
                f'{type(self).__name__}: no checkpoint was loaded '
                f'(load_from={runner.cfg.get("load_from")!r}), so training '
                f'would start from random init. {HANDOFF_HINT}')
