"""Plain Vision Transformers as Mask R-CNN backbones for MMDetection 3.x.

Importing the package registers its components in MMDetection's registries
and changes nothing else; configs pull it in with
``custom_imports = dict(imports=['mmdet_vit_transfer'], allow_failed_imports=False)``.
"""
__version__ = '0.1.0'

#: The mmcv releases that mmdet 3.3 accepts; pip cannot build them (see
#: :func:`_require_mmcv`).
MMCV_REQUIREMENT = 'mmcv>=2.0.0rc4,<2.2.0'


def _require_mmcv() -> None:
    """Fail at once, saying how to get it, when mmcv with its compiled ops
    is missing: mmcv ships no wheels for recent torch releases and its
    source build needs torch in the build environment, so it is not a pip
    dependency of this package."""
    try:
        import mmcv.ops  # noqa: F401
    except ImportError as error:
        import sys
        raise ImportError(
            f'mmdet_vit_transfer needs {MMCV_REQUIREMENT} with its compiled '
            f'ops, built for the installed torch ({error}). In a clone of '
            f'this repository, `make install PYTHON={sys.executable}` builds '
            'it from source against this torch, with its CUDA ops where nvcc '
            'is found, and installs it (OpenMMLab publishes no wheels of it '
            'for torch > 2.1)') from None


_require_mmcv()

from . import (checkpoints, datasets, engine, evaluation,  # noqa: E402,F401
               models)
