from .coco_file_checks import AnnotationFileError
from .toy_coco import make_toy_coco, toy_coco_paths
from .transforms import *  # noqa: F401,F403
from .validated_coco import ValidatedCocoDataset

__all__ = [
    'AnnotationFileError', 'ValidatedCocoDataset', 'make_toy_coco',
    'toy_coco_paths'
]
