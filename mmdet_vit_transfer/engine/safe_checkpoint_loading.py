"""Resume mmengine checkpoints while ``torch.load`` stays ``weights_only``.

torch >= 2.6 unpickles only allow-listed types by default. mmengine 0.10.7
stores its message hub (``HistoryBuffer`` objects holding numpy arrays and
scalars) in every checkpoint, so resuming fails with an ``UnpicklingError``.
Instead of turning the safety off, the exact types mmengine writes are
allow-listed; anything else in a file is still refused.
"""
from typing import List

import numpy as np
import torch


def mmengine_checkpoint_types() -> List[type]:
    """The non-tensor types that mmengine 0.10.7 writes into a checkpoint."""
    from mmengine.logging import HistoryBuffer

    multiarray = getattr(np, '_core', None) or np.core
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                    np.int64, np.int32, np.int8, np.uint8,
                                    np.bool_)
    ]
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar,
        *dtype_classes,
    ]


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list :func:`mmengine_checkpoint_types` for ``weights_only``
    loading (a no-op on torch versions without ``add_safe_globals``)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(mmengine_checkpoint_types())
