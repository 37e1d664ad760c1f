"""Plain Vision Transformers as Mask R-CNN backbones for MMDetection 3.x.

Importing the package registers its components in MMDetection's registries;
configs pull it in with
``custom_imports = dict(imports=['mmdet_vit_transfer'], allow_failed_imports=False)``.
"""
from . import checkpoints, datasets, engine, models  # noqa: F401

__version__ = '0.1.0'
