# The attention layers register themselves in ATTENTION_LAYERS on import.
from . import attention, cpu_fused_attention  # noqa: F401
from .sample_sync_bn import SampleSyncBatchNorm2d

__all__ = ['SampleSyncBatchNorm2d']
