from .checked_loading import CheckedLoadImageFromFile, ImageLoadError
from .large_scale_jitter import LargeScaleJitter
from .pad_to_size import PadToSize
from .polygon_annotations import LoadPolygonAnnotations

__all__ = [
    'CheckedLoadImageFromFile', 'ImageLoadError', 'LargeScaleJitter',
    'LoadPolygonAnnotations', 'PadToSize'
]
