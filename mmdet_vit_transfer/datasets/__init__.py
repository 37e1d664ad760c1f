from .toy_coco import make_toy_coco, toy_coco_paths
from .transforms import *  # noqa: F401,F403

__all__ = ['make_toy_coco', 'toy_coco_paths']
