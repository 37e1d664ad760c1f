from .epoch_reseed import EpochReseedHook
from .flush_denormal import FlushDenormalHook
from .non_finite_loss import NonFiniteLossError, NonFiniteLossHook
from .skipped_samples import SkippedSampleHook
from .strict_load import StrictLoadHook
from .synced_norm_check import SyncedNormCheckHook

__all__ = [
    'EpochReseedHook', 'FlushDenormalHook', 'NonFiniteLossError',
    'NonFiniteLossHook', 'SkippedSampleHook', 'StrictLoadHook',
    'SyncedNormCheckHook'
]
