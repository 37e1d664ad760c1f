from .large_scale_jitter import LargeScaleJitter
from .pad_to_size import PadToSize
from .checked_loading import CheckedLoadImageFromFile, ImageLoadError

__all__ = ['LargeScaleJitter', 'PadToSize']
__all__ += ['CheckedLoadImageFromFile', 'ImageLoadError']
