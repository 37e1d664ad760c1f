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
from typing import Mapping, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

from ..checkpoints import LoadReport, read_checkpoint
from ..checkpoints.handoff import TRAINING_STATE, HandoffReport, model_state
from ..models.backbones.checkpoint_filters import fit_detector_state


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
