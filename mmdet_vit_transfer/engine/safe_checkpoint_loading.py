"""Resume mmengine checkpoints while ``torch.load`` stays ``weights_only``.

torch >= 2.6 unpickles only allow-listed types by default. mmengine 0.10.7
stores its message hub (``HistoryBuffer`` objects holding numpy arrays and
scalars) in every checkpoint, so resuming fails with an ``UnpicklingError``.
Instead of turning the safety off, the exact types mmengine writes are
allow-listed; anything else in a file is still refused.

``HistoryBuffer`` also pickles its statistics methods (``HistoryBuffer.min``
...), which pickle writes as ``getattr(HistoryBuffer, 'min')``. Allowing the
builtin ``getattr`` would let a file reach any attribute of any allowed
object, so the pickled name ``builtins.getattr`` is bound to
:func:`history_buffer_method` instead, which resolves only those methods.
"""
import pickle
from typing import List, Tuple

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


def history_buffer_method(owner: type, name: str):
    """``getattr`` restricted to the statistics methods of mmengine's
    ``HistoryBuffer``, the only attribute look-up mmengine checkpoints need."""
    from mmengine.logging import HistoryBuffer

    method = HistoryBuffer.__dict__.get(name) if owner is HistoryBuffer \
        else None
    if not callable(method) or name.startswith('_'):
        raise pickle.UnpicklingError(
            f'refusing getattr({owner!r}, {name!r}) while loading a '
            'checkpoint: only HistoryBuffer statistics methods are allowed')
    return method


def restricted_getattr_globals() -> List[Tuple[object, str]]:
    """``(replacement, pickled name)`` pairs for ``add_safe_globals``."""
    return [(history_buffer_method, 'builtins.getattr')]


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list :func:`mmengine_checkpoint_types` for ``weights_only``
    loading (a no-op on torch versions without ``add_safe_globals``)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(mmengine_checkpoint_types() +
                         restricted_getattr_globals())
