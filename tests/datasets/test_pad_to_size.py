import numpy as np
import pytest

from mmdet_vit_transfer.datasets.transforms import PadToSize


def test_pads_bottom_right_and_keeps_the_valid_shape():
    img = np.full((20, 30, 3), 7, np.uint8)
    out = PadToSize(size=(32, 24), pad_val=(1, 2, 3))(dict(img=img))
    assert out['img'].shape == (24, 32, 3)
    assert out['img_shape'] == (20, 30)  # predictions are clipped to this
    assert out['pad_shape'] == (24, 32, 3)
    assert (out['img'][:20, :30] == 7).all()
    assert (out['img'][20:, :, :] == [1, 2, 3]).all()
    assert (out['img'][:, 30:, :] == [1, 2, 3]).all()


def test_larger_image_is_a_clear_error():
    with pytest.raises(ValueError, match='a.png: 40x20 is larger'):
        PadToSize(size=(32, 32))(dict(img=np.zeros((20, 40, 3), np.uint8),
                                      img_path='a.png'))
