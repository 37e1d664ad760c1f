import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from mmdet_vit_transfer.datasets.toy_coco import (CLASSES, MAX_OBJECTS,
                                                  is_complete_toy_coco,
                                                  make_toy_coco)

SMALL = dict(num_train=6, num_val=3, seed=3, min_size=96, max_size=160)
CLI_PATH = Path(__file__).parents[2] / 'tools' / 'make_toy_coco.py'


@pytest.fixture(scope='module')
def toy_paths(tmp_path_factory):
    return make_toy_coco(tmp_path_factory.mktemp('toy_coco'), **SMALL)


@pytest.fixture(scope='module', params=['train', 'val'])
def split(request, toy_paths):
    """(COCO, image folder, expected image count) of one split."""
    coco = COCO(str(toy_paths[f'{request.param}_ann_file']))
    return coco, toy_paths[f'{request.param}_img_dir'], SMALL[
        f'num_{request.param}']


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob('*') if p.is_file())


def _polygon(ann):
    (flat, ) = ann['segmentation']
    return np.asarray(flat).reshape(-1, 2)


def test_same_seed_gives_identical_files(toy_paths, tmp_path):
    make_toy_coco(tmp_path, **SMALL)
    root = toy_paths['root']
    assert _files(root) == _files(tmp_path)
    for rel in _files(root):
        assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_other_seed_gives_other_data(toy_paths, tmp_path):
    paths = make_toy_coco(tmp_path, **dict(SMALL, seed=4))
    for key in ('train_ann_file', 'val_ann_file'):
        assert paths[key].read_bytes() != toy_paths[key].read_bytes()


def test_first_images_do_not_depend_on_split_sizes(toy_paths, tmp_path):
    paths = make_toy_coco(tmp_path, **dict(SMALL, num_train=2, num_val=1))
    for rel in ('train/000001.png', 'train/000002.png', 'val/000001.png'):
        assert (paths['root'] / rel).read_bytes() == (
            toy_paths['root'] / rel).read_bytes(), rel


def test_images_match_their_records(split):
    coco, img_dir, num_images = split
    assert sorted(coco.getImgIds()) == list(range(1, num_images + 1))
    for img in coco.loadImgs(coco.getImgIds()):
        image = Image.open(img_dir / img['file_name'])
        assert image.mode == 'RGB'
        assert image.size == (img['width'], img['height'])
        assert SMALL['min_size'] <= min(image.size)
        assert max(image.size) <= SMALL['max_size']
        assert 1 <= len(coco.getAnnIds(imgIds=img['id'])) <= MAX_OBJECTS


def test_categories(split):
    coco = split[0]
    cats = coco.loadCats(coco.getCatIds())
    assert [(c['id'], c['name']) for c in cats] == list(
        enumerate(CLASSES, start=1))
    used = {ann['category_id'] for ann in coco.dataset['annotations']}
    assert used <= set(coco.getCatIds())


def test_annotations_are_consistent_polygons(split):
    coco = split[0]
    anns = coco.dataset['annotations']
    assert len({ann['id'] for ann in anns}) == len(anns)
    for ann in anns:
        img = coco.imgs[ann['image_id']]
        polygon = _polygon(ann)
        assert len(polygon) >= 3 and ann['iscrowd'] == 0
        # bbox is exactly the polygon's extent, and inside the image.
        x0, y0 = polygon.min(axis=0)
        x1, y1 = polygon.max(axis=0)
        np.testing.assert_allclose(ann['bbox'], [x0, y0, x1 - x0, y1 - y0],
                                   atol=1e-6)
        assert 0 <= x0 and x1 <= img['width']
        assert 0 <= y0 and y1 <= img['height']
        # area is the shoelace area of the polygon and close to its raster.
        x, y = polygon[:, 0], polygon[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        assert ann['area'] == pytest.approx(area, abs=0.01)
        assert coco.annToMask(ann).sum() == pytest.approx(area, rel=0.1)
        # Vertices lie on a circle of diameter 24-110 px, whose longest
        # chord is at least that of an equilateral triangle.
        assert max(x1 - x0, y1 - y0) <= 110
        assert np.hypot(x1 - x0, y1 - y0) >= 12 * np.sqrt(3)


def test_objects_do_not_overlap(split):
    coco = split[0]
    for img_id in coco.getImgIds():
        masks = [coco.annToMask(a) for a in coco.imgToAnns[img_id]]
        for a, b in itertools.combinations(masks, 2):
            assert not np.any(a & b)


def mask_colour_ious(coco, img_dir):
    """Per annotation, the IoU of its rasterised polygon with the pixels of
    the object's colour around it."""
    ious = []
    for ann in coco.dataset['annotations']:
        img = coco.imgs[ann['image_id']]
        pixels = np.asarray(Image.open(img_dir / img['file_name']),
                            dtype=np.int64)
        mask = coco.annToMask(ann).astype(bool)
        colour = np.median(pixels[mask], axis=0)
        # Within 4 noise standard deviations of the object's colour.
        same_colour = np.abs(pixels - colour).max(axis=-1) <= 24
        assert same_colour[mask].mean() > 0.95
        # Around the object, pixels of its colour lie inside the mask.
        x, y, w, h = ann['bbox']
        window = (slice(max(int(y) - 4, 0), int(y + h) + 5),
                  slice(max(int(x) - 4, 0), int(x + w) + 5))
        inside, coloured = mask[window], same_colour[window]
        ious.append((inside & coloured).sum() / (inside | coloured).sum())
    return np.array(ious)


def test_masks_cover_the_drawn_objects(split):
    """The rasterised polygon and the pixels of the object's colour agree."""
    ious = mask_colour_ious(*split[:2])
    assert (ious > 0.9).all()
    # Objects drawn half a pixel too large or shifted by half a pixel (PIL's
    # polygon fill) give a mean of 0.92-0.95.
    assert ious.mean() > 0.98


def test_other_shapes_and_category_ids(tmp_path):
    """Stars and crosses (non-convex) with ids 42 and 7 listed in that
    order; the box-only set has the same images and boxes."""
    categories = (('star', 42), ('cross', 7))
    args = dict(SMALL, num_train=8, num_val=1, categories=categories)
    paths = make_toy_coco(tmp_path / 'masks', **args)
    coco = COCO(str(paths['train_ann_file']))
    assert [(c['name'], c['id']) for c in coco.dataset['categories']] == [
        ('star', 42), ('cross', 7)]
    assert {a['category_id'] for a in coco.dataset['annotations']} == {7, 42}
    assert {len(_polygon(a)) for a in coco.dataset['annotations']} == {10, 12}
    ious = mask_colour_ious(coco, paths['train_img_dir'])
    assert (ious > 0.9).all() and ious.mean() > 0.97

    boxes = make_toy_coco(tmp_path / 'boxes', **args, masks=False)
    box_anns = json.loads(boxes['train_ann_file'].read_text())['annotations']
    assert all('segmentation' not in a for a in box_anns)
    for ann, box_ann in zip(coco.dataset['annotations'], box_anns):
        assert box_ann['bbox'] == ann['bbox']
        assert box_ann['area'] == pytest.approx(
            ann['bbox'][2] * ann['bbox'][3], abs=0.01)
    assert (boxes['train_img_dir'] / '000008.png').read_bytes() == (
        paths['train_img_dir'] / '000008.png').read_bytes()
    assert is_complete_toy_coco(tmp_path / 'boxes', **args, masks=False)
    assert not is_complete_toy_coco(tmp_path / 'boxes', **args)


@pytest.mark.parametrize('kwargs, name', [
    (dict(num_train=0), 'num_train'),
    (dict(num_val=0), 'num_val'),
    (dict(num_train=2.5), 'num_train'),
    (dict(seed=-1), 'seed'),
    (dict(min_size=32), 'min_size'),
    (dict(min_size=200, max_size=100), 'min_size'),
    (dict(categories=[('hexagon', 1)]), "'hexagon' is not a shape"),
    (dict(categories=[('star', 0)]), "id of 'star' must be a positive"),
    (dict(categories=[('star', 3), ('cross', 3)]), r'ids must be unique'),
    (dict(categories=[]), 'at least one class'),
])
def test_bad_arguments_raise(kwargs, name, tmp_path):
    with pytest.raises(ValueError, match=name):
        make_toy_coco(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_cli_writes_then_skips_then_forces(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('make_toy_coco_cli',
                                                  CLI_PATH)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    argv = [str(tmp_path), '--num-train', '2', '--num-val', '1']

    cli.main(argv)
    assert 'wrote 2 train and 1 val images' in capsys.readouterr().out
    assert is_complete_toy_coco(tmp_path, num_train=2, num_val=1)
    assert not is_complete_toy_coco(tmp_path, num_train=2, num_val=1, seed=1)

    cli.main(argv)
    assert 'already holds' in capsys.readouterr().out
    cli.main(argv + ['--force'])
    assert 'wrote' in capsys.readouterr().out

    with pytest.raises(SystemExit):
        cli.main([str(tmp_path), '--min-size', '300'])
    assert 'min_size (300) must be <= max_size (256)' in capsys.readouterr(
    ).err

    cli.main(argv + ['--categories', 'star:7,cross:42', '--box-only'])
    assert is_complete_toy_coco(tmp_path, num_train=2, num_val=1,
                                categories=(('star', 7), ('cross', 42)),
                                masks=False)
    with pytest.raises(SystemExit):
        cli.main(argv + ['--categories', 'star7'])
    assert "'star7' is not NAME:ID" in capsys.readouterr().err
