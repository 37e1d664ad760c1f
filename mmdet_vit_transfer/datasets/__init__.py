from .coco_file_checks import AnnotationFileError
from .pipeline_configs import (at_image_size, box_only_dataloader,
                               fill_pad_values)
from .toy_coco import make_toy_coco, toy_coco_paths
from .transforms import *  # noqa: F401,F403
from .validated_coco import ValidatedCocoDataset

__all__ = [
    'AnnotationFileError', 'ValidatedCocoDataset', 'at_image_size',
    'box_only_dataloader', 'fill_pad_values', 'make_toy_coco',
    'toy_coco_paths'
]
