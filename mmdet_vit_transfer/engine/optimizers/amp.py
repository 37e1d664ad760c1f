"""``--amp`` on CPUs: bfloat16 autocast for the backbone and neck.

mmengine's ``AmpOptimWrapper`` (what mmdet's ``tools/train.py --amp``
selects) refuses to start without an accelerator, and autocasting the whole
detector on a CPU fails in mmcv's CPU NMS and RoI kernels, which take
float32 only. :class:`CPUBFloat16AmpOptimWrapper` runs the backbone and
neck, where nearly all the FLOPs are, under bfloat16 autocast, and the
detection heads in float32; bfloat16 has float32's exponent range, so no
loss scaling is needed. :func:`select_amp_optim_wrapper` is the one place
that picks it: the runner
(:class:`~mmdet_vit_transfer.engine.TransferRunner`) swaps
``'AmpOptimWrapper'`` for it on machines without an accelerator, and on
accelerators ``--amp`` is mmengine's ``AmpOptimWrapper`` unchanged.
"""
import logging
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper as MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper
from mmdet.registry import OPTIM_WRAPPERS

from ...utils.cpu import has_native_bfloat16


def has_accelerator() -> bool:
    """Whether mmengine's own ``AmpOptimWrapper`` can run here."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


#: The name mmdet's ``--amp`` writes into ``optim_wrapper.type``.
AMP_WRAPPER = 'AmpOptimWrapper'
#: What it becomes on a machine without an accelerator.
CPU_AMP_WRAPPER = 'CPUBFloat16AmpOptimWrapper'


def select_amp_optim_wrapper(wrapper_type: str,
                             accelerator: Optional[bool] = None) -> str:
    """The optimizer wrapper to build for ``optim_wrapper.type``.

    Args:
        wrapper_type (str): The configured type (``'AmpOptimWrapper'`` after
            ``--amp``), possibly with a scope prefix (``'mmengine.'``).
        accelerator (bool, optional): Whether mmengine's AMP can run here;
            :func:`has_accelerator` when None.

    Returns:
        str: ``wrapper_type`` unchanged, except ``'AmpOptimWrapper'`` on a
        machine without an accelerator, which becomes
        :data:`CPU_AMP_WRAPPER`.
    """
    if wrapper_type.split('.')[-1] != AMP_WRAPPER:
        return wrapper_type
    if accelerator is None:
        accelerator = has_accelerator()
    return wrapper_type if accelerator else CPU_AMP_WRAPPER


def to_float32(outputs):
    """Cast floating tensors in (nested tuples / lists of) ``outputs``."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.is_floating_point() else outputs
    if isinstance(outputs, (tuple, list)):
        return type(outputs)(to_float32(o) for o in outputs)
    return outputs


class FeatureAutocast:
    """bfloat16 CPU autocast from the backbone's input to the neck's output,
    switched on only inside :meth:`active`; the features leave as float32.

    Args:
        detector (nn.Module): a detector with ``backbone`` (and optionally
            ``neck``) submodules.
        dtype (torch.dtype): autocast dtype.
    """

    def __init__(self, detector: nn.Module, dtype: torch.dtype):
        if not hasattr(detector, 'backbone'):
            raise TypeError(
                f'--amp on a CPU autocasts the backbone and neck, but '
                f'{type(detector).__name__} has no backbone')
        self.dtype = dtype
        self._enabled = False
        self._context: Optional[torch.autocast] = None
        last = detector.neck if getattr(detector, 'neck', None) else \
            detector.backbone
        # First in line, so that other hooks see what the next module gets.
        detector.backbone.register_forward_pre_hook(self._enter, prepend=True)
        last.register_forward_hook(self._exit, prepend=True)

    def _enter(self, module, args):
        if self._enabled and self._context is None:
            self._context = torch.autocast('cpu', dtype=self.dtype)
            self._context.__enter__()

    def _exit(self, module, args, output):
        if self._context is None:
            return None
        self._close()
        return to_float32(output)

    def _close(self):
        self._context.__exit__(None, None, None)
        self._context = None

    @contextmanager
    def active(self):
        self._enabled = True
        try:
            yield
        finally:
            self._enabled = False
            if self._context is not None:  # an exception inside the neck
                self._close()


@OPTIM_WRAPPERS.register_module()
class CPUBFloat16AmpOptimWrapper(MMEngineAmpOptimWrapper):
    """Mixed precision on a CPU: the backbone and neck under bfloat16
    autocast, the detection heads in float32, no loss scaling.

    A subclass of mmengine's ``AmpOptimWrapper`` (hooks that look for AMP
    find it) whose backward pass, step and state are those of a plain
    ``OptimWrapper``; its ``loss_scaler`` is None.

    Args:
        loss_scale (str | float | dict): Accepted for ``--amp``'s
            ``loss_scale='dynamic'``; unused.
        dtype (str | torch.dtype, optional): Autocast dtype; bfloat16 (the
            default) is the only one a CPU autocasts to that trains.
        use_fsdp (bool): Unused (FSDP needs GPUs).
        **kwargs: Arguments of :class:`~mmengine.optim.OptimWrapper`.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 use_fsdp: bool = False,
                 **kwargs):
        OptimWrapper.__init__(self, **kwargs)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'{CPU_AMP_WRAPPER} dtype must be one of '
                                 f'{self.valid_dtypes}, got {dtype!r}')
            dtype = getattr(torch, dtype)
        dtype = dtype or torch.bfloat16
        if dtype == torch.float16:
            raise ValueError(
                'float16 autocast needs a GPU; on a CPU use '
                "dtype='bfloat16' (the default there)")
        self.cast_dtype = dtype
        self.loss_scaler = None
        self._scale_update_param = None
        self._feature_autocast: Optional[FeatureAutocast] = None
        print_log(
            f'AMP on a CPU: {dtype} autocast for the backbone and neck, '
            'detection heads in float32, no loss scaling',
            logger='current')
        if not has_native_bfloat16():
            print_log(
                'this CPU has no bfloat16 matrix instructions (AVX512-BF16 '
                'or AMX): bfloat16 matrix products fall back to a generic '
                'kernel that runs about 100x slower than float32 (0.7 vs '
                '79 GFLOP/s for a 1024^3 product on an AVX2 core). Train '
                'without --amp on this machine.',
                logger='current',
                level=logging.WARNING)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        return OptimWrapper.backward(self, loss, **kwargs)

    def step(self, **kwargs) -> None:
        return OptimWrapper.step(self, **kwargs)

    def state_dict(self) -> dict:
        return OptimWrapper.state_dict(self)

    def load_state_dict(self, state_dict: dict) -> None:
        # A checkpoint written on a GPU carries its loss scaler.
        state_dict = dict(state_dict)
        state_dict.pop('loss_scaler', None)
        return OptimWrapper.load_state_dict(self, state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self._feature_autocast is None:
            detector = getattr(model, 'module', model)  # DDP wraps it
            self._feature_autocast = FeatureAutocast(detector,
                                                     self.cast_dtype)
        with OptimWrapper.optim_context(self, model), \
                self._feature_autocast.active():
            yield
