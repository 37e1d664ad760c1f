from .flush_denormal import FlushDenormalHook
from .epoch_reseed import EpochReseedHook
from .non_finite_loss import NonFiniteLossError, NonFiniteLossHook
from .skipped_samples import SkippedSampleHook
from .synced_norm_check import SyncedNormCheckHook

__all__ = ['FlushDenormalHook']
__all__ += [
    'EpochReseedHook', 'NonFiniteLossError', 'NonFiniteLossHook',
    'SkippedSampleHook', 'SyncedNormCheckHook'
]
