from .sample_sync_bn import SampleSyncBatchNorm2d

__all__ = ['SampleSyncBatchNorm2d']
