"""Bad image files fail with ImageLoadError naming the file; grayscale,
RGBA, palette, CMYK and 16-bit files load as 8-bit BGR."""
import numpy as np
import pytest
from coco_builders import image_bytes

from mmdet_vit_transfer.datasets.transforms import (CheckedLoadImageFromFile,
                                                    ImageLoadError)

W, H = 64, 48


def load(path, **results):
    return CheckedLoadImageFromFile()(dict(img_path=str(path), **results))


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize('name,content_of', [
    ('empty.png', lambda: b''),
    ('text.jpg', lambda: b'not an image at all'),
    ('garbage.jpg', lambda: b'\xff\xd8\xff' + bytes(range(256)) * 4),
    ('cut.png', lambda: image_bytes(W, H)[0][:300]),
    ('cut_end.png', lambda: image_bytes(W, H)[0][:-20]),
    ('cut.jpg', lambda: image_bytes(W, H, fmt='JPEG')[0][:-100]),
    ('cut_end.jpg', lambda: image_bytes(W, H, fmt='JPEG')[0][:-2]),
])
def test_corrupt_and_truncated_files(tmp_path, name, content_of):
    path = write(tmp_path, name, content_of())
    with pytest.raises(ImageLoadError) as info:
        load(path)
    assert info.value.kind == 'undecodable'
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match='no such file') as info:
        load(tmp_path / 'gone.png')
    assert info.value.kind == 'missing'
    assert info.value.path == str(tmp_path / 'gone.png')


def test_unreadable_path(tmp_path):
    (tmp_path / 'folder.png').mkdir()
    with pytest.raises(ImageLoadError, match='cannot read') as info:
        load(tmp_path / 'folder.png')
    assert info.value.kind == 'unreadable'


def test_size_must_match_the_annotation_file(tmp_path):
    path = write(tmp_path, 'a.png', image_bytes(W, H)[0])
    assert load(path, height=H, width=W)['img'].shape == (H, W, 3)
    with pytest.raises(ImageLoadError,
                       match=r'decoded 48x64 \(h x w\), the annotation file '
                       r'says 64x48') as info:
        load(path, height=W, width=H)
    assert info.value.kind == 'size_mismatch'


def test_rgb_is_loaded_as_bgr(tmp_path):
    content, pixels = image_bytes(W, H, 'RGB')
    results = load(write(tmp_path, 'rgb.png', content))
    assert np.array_equal(results['img'], pixels[..., ::-1])
    assert results['img_shape'] == results['ori_shape'] == (H, W)


def test_grayscale_is_replicated(tmp_path):
    content, pixels = image_bytes(W, H, 'L')
    img = load(write(tmp_path, 'gray.png', content))['img']
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    for channel in range(3):
        assert np.array_equal(img[..., channel], pixels)


def test_rgba_drops_alpha(tmp_path):
    content, pixels = image_bytes(W, H, 'RGBA')
    img = load(write(tmp_path, 'rgba.png', content))['img']
    assert np.array_equal(img, pixels[..., 2::-1])


def test_16_bit_is_scaled_to_8_bit(tmp_path):
    content, pixels = image_bytes(W, H, 'I;16')
    img = load(write(tmp_path, 'deep.png', content))['img']
    assert img.shape == (H, W, 3) and img.dtype == np.uint8
    assert np.array_equal(img[..., 0], (pixels // 257).astype(np.uint8))


@pytest.mark.parametrize('mode,fmt', [('P', 'PNG'), ('CMYK', 'JPEG')])
def test_palette_and_cmyk_give_three_channels(tmp_path, mode, fmt):
    content, _ = image_bytes(W, H, mode, fmt)
    img = load(write(tmp_path, f'{mode}.{fmt.lower()}', content))['img']
    assert img.shape == (H, W, 3) and img.dtype == np.uint8


def test_to_float32(tmp_path):
    path = write(tmp_path, 'a.png', image_bytes(W, H)[0])
    img = CheckedLoadImageFromFile(to_float32=True)(
        dict(img_path=str(path)))['img']
    assert img.dtype == np.float32


def test_options_that_would_hide_failures_are_refused():
    with pytest.raises(ValueError, match='ignore_empty'):
        CheckedLoadImageFromFile(ignore_empty=True)
    with pytest.raises(ValueError, match='file_client_args'):
        CheckedLoadImageFromFile(file_client_args=dict(backend='disk'))
