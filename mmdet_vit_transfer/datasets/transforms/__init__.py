from .large_scale_jitter import LargeScaleJitter
from .pad_to_size import PadToSize

__all__ = ['LargeScaleJitter', 'PadToSize']
