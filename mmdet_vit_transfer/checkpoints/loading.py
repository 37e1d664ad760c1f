"""Load a published or converted checkpoint into a backbone: read the file
safely, map its names with the format tables, let the model fit the result
to itself (its ``checkpoint_filter``), check the keys and report.

This package knows no model: a backbone brings its own fitting step
(``model.checkpoint_filter(state, report, abs_pos_init=...,
rel_pos_init=...)``, as timm's ``checkpoint_filter_fn``).
"""
import argparse
import os
import pickle
import re
import warnings
import zipfile
from typing import Dict, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ..utils.checkpoint_files import mmengine_checkpoint_globals
from .formats import convert_checkpoint
from .report import LoadReport, summarize_keys

#: How the absolute position embedding is initialised from a checkpoint.
ABS_POS_INIT_MODES = ('auto', 'pretrained', 'random', 'none')
#: How relative positions are initialised from a checkpoint.
REL_POS_INIT_MODES = ('auto', 'pretrained', 'zero', 'none')
#: Loading fails when more of the block parameters would stay at init.
MAX_MISSING_BLOCK_FRACTION = 0.5
#: Plain-data classes that training scripts (MAE, BEiT, DeiT ``save_model``)
#: pickle next to the weights; rebuilding them runs no code from the file.
SAFE_CHECKPOINT_GLOBALS = (argparse.Namespace, )
# The weights-only unpickler names the global it refused in one of two
# forms: '... Unsupported global: GLOBAL mod.name was not an allowed ...'
# (a class that could be allow-listed) or 'Trying to load unsupported
# GLOBAL mod.name whose module mod is blocked' (e.g. os, posix, builtins).
_REFUSED_GLOBAL = re.compile(
    r'(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)')
#: What a checkpoint key without a place in the model says about the model
#: it needs.
_UNEXPECTED_HINTS = (
    ('.ls1.gamma', ' (layer scale: build the model with '
     'layer_scale_init_value > 0)'),
    ('norm_pre.', " (a norm before the blocks, CLIP's ln_pre: build the "
     'model with pre_norm=True)'),
    ('patch_embed.proj.bias', ' (a patch projection with bias: build the '
     'model with patch_bias=True)'),
    ('.mlp.fc1_g.', " (a SwiGLU MLP: build the model with mlp_layer="
     "'swiglu')"),
    ('.mlp.norm.', ' (a norm inside the SwiGLU MLP, EVA-02\'s ffn_ln: build '
     'the model with mlp_norm=True)'),
    ('.attn.norm.', ' (a norm of the attention output: build the model '
     'with attn_norm=True)'),
    ('.mlp.fc1.', " (a two-layer MLP: build the model with mlp_layer='mlp'"
     " or, packed SwiGLU, 'swiglu_packed')"),
)
#: init_cfg keys of earlier versions and their names now.
_RENAMED_OPTIONS = {'abs_pos': 'abs_pos_init', 'rel_pos': 'rel_pos_init'}


def read_checkpoint(path: Union[str, os.PathLike]) -> dict:
    """Read a checkpoint file (or URL) without running code from it.

    Pickled checkpoints are read by torch's weights-only unpickler (with
    the plain-data classes of ``SAFE_CHECKPOINT_GLOBALS`` and mmengine's
    allowed); ``.safetensors`` files hold tensors only; TorchScript
    archives (OpenAI's CLIP releases) are read by ``torch.jit.load``, which
    compiles the archive's TorchScript but runs none of it and no Python,
    and only their tensors are kept.

    Args:
        path (str | PathLike): local file, or an ``http(s)://`` URL.

    Returns:
        dict: what the file holds.

    Raises:
        RuntimeError: the file needs arbitrary code to unpickle.
        ValueError: the file is not a PyTorch checkpoint.
    """
    if str(path).endswith('.safetensors'):
        return _read_safetensors(path)
    if _is_torchscript(path):
        return _read_torchscript(path)
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


def _read_safetensors(path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path), device='cpu')
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (SafetensorError, OSError) as err:
        raise ValueError(f'{path} is not a safetensors file ({err})') from None


def _is_torchscript(path) -> bool:
    """Whether ``path`` is a local TorchScript archive (a zip whose records
    include ``constants.pkl``, as torch tells them apart)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith('/constants.pkl')
                       for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _read_torchscript(path) -> dict:
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated, but OpenAI's files are archives.
            warnings.simplefilter('ignore', FutureWarning)
            module = torch.jit.load(str(path), map_location='cpu')
    except Exception as err:  # a damaged archive
        raise ValueError(f'{path} is a TorchScript archive that does not '
                         f'load ({type(err).__name__}: {err})') from None
    return {key: value for key, value in module.state_dict().items()
            if isinstance(value, torch.Tensor)}


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
    """Keyword arguments of :func:`load_pretrained` from a backbone's
    ``init_cfg=dict(type='Pretrained', checkpoint, [format, abs_pos_init,
    rel_pos_init])``; ValueError for anything else."""
    options = dict(init_cfg)
    options.pop('type', None)
    for old, new in _RENAMED_OPTIONS.items():
        if old in options:
            raise ValueError(f'init_cfg option {old!r} is now {new!r}, '
                             f'got {init_cfg}')
    unknown = set(options) - {
        'checkpoint', 'format', 'abs_pos_init', 'rel_pos_init',
        'resample_patch_embed'
    }
    if unknown or 'checkpoint' not in options:
        raise ValueError(
            f"init_cfg=dict(type='Pretrained', checkpoint=..., [format, "
            f"abs_pos_init, rel_pos_init, resample_patch_embed]) expected, "
            f"got {init_cfg}")
    return dict(
        checkpoint=options['checkpoint'],
        fmt=options.get('format', 'auto'),
        abs_pos_init=options.get('abs_pos_init', 'auto'),
        rel_pos_init=options.get('rel_pos_init', 'auto'),
        resample_patch_embed=options.get('resample_patch_embed', False))


def load_pretrained(model: nn.Module,
                    checkpoint: Union[str, os.PathLike, dict],
                    fmt: str = 'auto',
                    abs_pos_init: str = 'auto',
                    rel_pos_init: str = 'auto',
                    resample_patch_embed: bool = False,
                    logger=None) -> LoadReport:
    """Load a published or converted checkpoint into a backbone.

    Args:
        model (nn.Module): the backbone, already at its init, with a
            ``checkpoint_filter(state, report, abs_pos_init, rel_pos_init)``
            (``PlainViTPyramid``, ``ITPNHiViT``).
        checkpoint (str | PathLike | dict): file, URL or loaded checkpoint.
        fmt (str): source format (see ``FORMATS``) or ``'auto'``.
        abs_pos_init (str): how the absolute position embedding starts:
            one of ``ABS_POS_INIT_MODES`` (see the model's filter).
        rel_pos_init (str): how relative positions start: one of
            ``REL_POS_INIT_MODES``.
        resample_patch_embed (bool): resample a patch embedding of another
            patch size to the model's (FlexiViT's pseudo-inverse resize, as
            timm's ``resample_patch_embed``); without it such a checkpoint
            is refused.
        logger (MMLogger | str | None): where the report goes; the current
            MMLogger by default.

    Returns:
        LoadReport: what was loaded, dropped, resized and left at init.
    """
    for name, value, valid in (
            ('abs_pos_init', abs_pos_init, ABS_POS_INIT_MODES),
            ('rel_pos_init', rel_pos_init, REL_POS_INIT_MODES)):
        if value not in valid:
            raise ValueError(f'{name} must be one of {valid}, got {value!r}')
    raw = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(
        checkpoint)
    state, report = convert_checkpoint(raw, fmt)
    state = model.checkpoint_filter(
        state, report, abs_pos_init=abs_pos_init, rel_pos_init=rel_pos_init,
        resample_patch_embed=resample_patch_embed)
    check_keys(state, model.state_dict(), report)
    model.load_state_dict(state, strict=False)
    report.loaded = sorted(state)
    print_log(f'Pre-trained weights for {type(model).__name__}:\n{report}',
              logger=logger or 'current')
    return report


def check_keys(state: Dict[str, torch.Tensor],
               expected: Dict[str, torch.Tensor], report: LoadReport) -> None:
    """Fail on keys without a place in the model's state dict ``expected``,
    wrong shapes or a mostly random backbone; record the missing keys."""
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        hint = ''.join(hint for clue, hint in _UNEXPECTED_HINTS
                       if any(clue in key for key in unexpected))
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
