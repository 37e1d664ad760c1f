"""Pad a test image to the fixed input size of training, keeping the size of
its valid region.

mmcv's ``Pad`` sets ``img_shape`` to the padded shape, so predictions are
clipped to the padding rather than to the image, and mask pasting fails when
every box of an image lies in the padding. Here ``img_shape`` stays the
resized image's shape and only ``pad_shape`` grows.
"""
from typing import Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PadToSize(BaseTransform):
    """Pad ``img`` at the bottom and right to ``size`` ``(w, h)``.

    Args:
        size (tuple[int, int]): output ``(width, height)``.
        pad_val (number | sequence): value per channel (BGR order, as
            loaded).
    """

    def __init__(self, size: Sequence[int],
                 pad_val: Union[float, Sequence[float]] = 0):
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f'size must be (width, height) > 0, got {size}')
        self.size = (int(size[0]), int(size[1]))
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        out_w, out_h = self.size
        if height > out_h or width > out_w:
            raise ValueError(
                f"{results.get('img_path', 'image')}: {width}x{height} is "
                f'larger than the pad size {out_w}x{out_h}; resize it first')
        padded = np.empty((out_h, out_w) + img.shape[2:], img.dtype)
        padded[...] = np.asarray(self.pad_val, dtype=img.dtype)
        padded[:height, :width] = img
        results['img'] = padded
        results['pad_shape'] = padded.shape
        results['img_shape'] = (height, width)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, '
                f'pad_val={self.pad_val})')
