"""mmengine's DistributedDataParallel wrapper, usable on CPU as well.

mmengine's runner passes ``device_ids=[LOCAL_RANK]`` to the wrapper, which
torch refuses for a CPU model, and torch's ``SyncBatchNorm`` (mmcv's
``'SyncBN'``) only runs on GPUs. On CPU this wrapper drops the device ids and
replaces ``SyncBatchNorm`` layers with :class:`SampleSyncBatchNorm2d`, which
synchronises the same statistics (each process weighted by its sample count,
as torch's does) through any backend, gloo included. On GPUs it is
mmengine's ``MMDistributedDataParallel`` unchanged.
"""
import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.utils.dl_utils import mmcv_full_available
from mmdet.registry import MODEL_WRAPPERS

from ..models.layers import SampleSyncBatchNorm2d


def _sync_batchnorm_types() -> tuple:
    types = [nn.SyncBatchNorm]
    if mmcv_full_available():
        from mmcv.ops import SyncBatchNorm
        types.append(SyncBatchNorm)
    return tuple(types)


def convert_sync_batchnorm_to_sample_sync(module: nn.Module,
                                          prefix: str = '') -> nn.Module:
    """Replace every torch / mmcv ``SyncBatchNorm`` in ``module`` with a
    :class:`SampleSyncBatchNorm2d` holding the same parameters and
    statistics.

    Args:
        module (nn.Module): Model (or layer) to convert; its children are
            replaced in place.
        prefix (str): Name of ``module`` in the model, for error messages.

    Returns:
        nn.Module: ``module``, or its replacement if it is a SyncBatchNorm.

    Raises:
        ValueError: For a SyncBatchNorm without affine parameters or with
            ``momentum=None`` (cumulative averaging), which
            :class:`SampleSyncBatchNorm2d` does not implement.
    """
    if isinstance(module, _sync_batchnorm_types()):
        if not module.affine or module.momentum is None or \
                not module.track_running_stats:
            raise ValueError(
                f'cannot run SyncBatchNorm {prefix or "(model)"} on CPU: '
                'SampleSyncBN needs affine=True, track_running_stats=True and '
                f'a float momentum (got affine={module.affine}, '
                f'track_running_stats={module.track_running_stats}, '
                f'momentum={module.momentum})')
        converted = SampleSyncBatchNorm2d(module.num_features, module.eps,
                                          module.momentum)
        with torch.no_grad():
            converted.weight = module.weight
            converted.bias = module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        child_prefix = f'{prefix}.{name}' if prefix else name
        module.add_module(
            name, convert_sync_batchnorm_to_sample_sync(child, child_prefix))
    return module


@MODEL_WRAPPERS.register_module()
class AnyDeviceDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that also wraps CPU models.

    For a model whose parameters are on the CPU, ``device_ids`` and
    ``output_device`` are dropped and SyncBatchNorm layers become
    :class:`SampleSyncBatchNorm2d` (see
    :func:`convert_sync_batchnorm_to_sample_sync`); anything else is passed
    to :class:`MMDistributedDataParallel` as given.

    Args:
        module (nn.Module): The model to wrap.
        device_ids (list[int], optional): CUDA device of this process;
            ignored for a CPU model.
        **kwargs: Other arguments of :class:`MMDistributedDataParallel`
            (``broadcast_buffers``, ``find_unused_parameters``, ...).
    """

    def __init__(self, module: nn.Module, device_ids=None, **kwargs):
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
            module = convert_sync_batchnorm_to_sample_sync(module)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
