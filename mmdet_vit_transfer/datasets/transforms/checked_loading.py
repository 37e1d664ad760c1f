"""Load an image or fail with an error that names the file and the problem.

mmcv's ``LoadImageFromFile`` raises ``FileNotFoundError`` for a missing
file and a bare ``AssertionError`` for one that cannot be decoded (OpenCV
returns None for corrupt and truncated files), and a file whose size differs
from the one in the annotation file loads silently with misplaced boxes.
:class:`CheckedLoadImageFromFile` raises :class:`ImageLoadError` in all three
cases; :class:`~mmdet_vit_transfer.datasets.ValidatedCocoDataset` replaces
such a training sample with another one and counts it. At test time the
dataset either stops with the error or, with ``on_unreadable_image='skip'``,
asks for a stand-in (:data:`NOT_LOADED_KEY` in the results): a black image
of the annotated size that keeps the sample's place in its batch, which
:class:`~mmdet_vit_transfer.evaluation.ValidatedCocoMetric` leaves out.

Grayscale, RGBA, palette, CMYK and 16-bit files are not errors: with the
default ``color_type='color'`` and OpenCV backend they decode to 8-bit
3-channel BGR (gray replicated, alpha ignored, 16-bit values divided by 257).
mmcv's ``'pillow'`` backend saturates 16-bit values instead, so keep
``'cv2'`` for such data.
"""
import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmdet.registry import TRANSFORMS

from ...utils.errors import UserInputError

#: ``ImageLoadError.kind`` values.
LOAD_FAILURES = {
    'missing': 'the file does not exist',
    'unreadable': 'the file exists but cannot be read',
    'undecodable': 'empty, corrupt, truncated or not an image',
    'size_mismatch': 'decoded size differs from the annotation file',
}
#: Results and metainfo key of a test image that could not be loaded: the
#: record of the failure (``path``, ``kind``, ``detail``).
NOT_LOADED_KEY = 'image_not_loaded'
#: At test and inference time: stop at an image that cannot be loaded
#: (``'error'``), or leave it out and count it (``'skip'``).
UNREADABLE_IMAGE_POLICIES = ('error', 'skip')


class ImageLoadError(UserInputError, OSError):
    """An image that cannot be used.

    Args:
        path (str): The image file.
        kind (str): One of :data:`LOAD_FAILURES`.
        detail (str): What exactly went wrong.
    """

    def __init__(self, path: str, kind: str, detail: str):
        if kind not in LOAD_FAILURES:
            raise ValueError(f'kind must be one of {list(LOAD_FAILURES)}, '
                             f'got {kind!r}')
        super().__init__(f'{path}: {detail}')
        self.path, self.kind, self.detail = str(path), kind, detail

    @property
    def record(self) -> dict:
        """The failure as plain data (for metainfo and logs)."""
        return dict(path=self.path, kind=self.kind, detail=self.detail)


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that raises :class:`ImageLoadError` for a
    missing, unreadable or undecodable file and for one whose decoded size
    differs from the ``height`` / ``width`` that the dataset read from the
    annotation file.

    Arguments are those of mmcv's ``LoadImageFromFile`` except the
    deprecated ``file_client_args`` (use ``backend_args``) and
    ``ignore_empty`` (failures are always raised).
    """

    def __init__(self, **kwargs):
        for name in ('file_client_args', 'ignore_empty'):
            if kwargs.get(name):
                raise ValueError(
                    f'CheckedLoadImageFromFile does not take {name}; '
                    f'got {name}={kwargs[name]!r}')
        super().__init__(**kwargs)

    def transform(self, results: dict) -> dict:
        """Load ``results['img_path']`` into ``results['img']``.

        Args:
            results (dict): Must hold ``img_path``; ``height`` and ``width``
                are checked when present. With :data:`NOT_LOADED_KEY`, a
                black image of ``height`` x ``width`` stands in for the
                file.

        Returns:
            dict: ``results`` with ``img``, ``img_shape`` and ``ori_shape``.
        """
        if NOT_LOADED_KEY in results:
            shape = (results['height'], results['width'])
            if self.color_type != 'grayscale':
                shape += (3, )
            return self._loaded(results, np.zeros(shape, np.uint8))
        path = results['img_path']
        try:
            img_bytes = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as error:
            raise ImageLoadError(path, 'missing',
                                 f'no such file ({error})') from error
        except OSError as error:
            raise ImageLoadError(path, 'unreadable',
                                 f'cannot read ({error})') from error
        img, problem = None, 'empty file'
        if img_bytes:
            try:
                img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                       backend=self.imdecode_backend)
                problem = 'corrupt, truncated or not an image'
            except Exception as error:  # decoders raise many types
                problem = f'cannot decode ({type(error).__name__}: {error})'
        if img is None:
            raise ImageLoadError(
                path, 'undecodable',
                f'{problem} ({len(img_bytes)} bytes, decoder '
                f'{self.imdecode_backend!r})')
        expected = (results.get('height'), results.get('width'))
        if None not in expected and tuple(img.shape[:2]) != expected:
            raise ImageLoadError(
                path, 'size_mismatch',
                f'decoded {img.shape[0]}x{img.shape[1]} (h x w), the '
                f'annotation file says {expected[0]}x{expected[1]}; boxes '
                'would not match the pixels')
        return self._loaded(results, img)

    def _loaded(self, results: dict, img: np.ndarray) -> dict:
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
