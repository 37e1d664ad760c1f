import json

import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from mmdet_vit_transfer.analysis.error_analysis import (ERROR_TYPES,
                                                        analyze_errors,
                                                        tide_errors)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return path


def square(ann_id, image_id, x, y, side=20, category_id=1):
    return dict(id=ann_id, image_id=image_id, category_id=category_id,
                bbox=[x, y, side, side], area=side * side, iscrowd=0,
                segmentation=[[x, y, x + side, y, x + side, y + side,
                               x, y + side]])


def test_duplicate_costs_what_the_101_point_ap_says(tmp_path):
    # One class, two objects; detections: hit (0.9), duplicate of the same
    # object (0.8), hit on the other (0.7). Precision 1 up to recall 0.5,
    # then 2/3 at recall 1: AP50 = (51 * 1 + 50 * 2/3) / 101.
    ann = write_json(tmp_path / 'gt.json', dict(
        images=[dict(id=1, width=100, height=100, file_name='a.png')],
        categories=[dict(id=1, name='a')],
        annotations=[square(1, 1, 10, 10), square(2, 1, 50, 50)]))
    dets = write_json(tmp_path / 'dets.json', [
        dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], score=0.9),
        dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], score=0.8),
        dict(image_id=1, category_id=1, bbox=[50, 50, 20, 20], score=0.7),
    ])
    result = tide_errors(dets, ann)
    expected_ap = 100 * (51 + 50 * 2 / 3) / 101
    assert result.task == 'bbox'
    assert result.ap50 == pytest.approx(expected_ap)
    assert result.delta_ap['Dupe'] == pytest.approx(100 - expected_ap)
    assert result.counts == dict(Cls=0, Loc=0, Both=0, Dupe=1, Bkg=0, Miss=0)
    assert all(result.delta_ap[k] == 0 for k in ERROR_TYPES if k != 'Dupe')


def test_missed_and_background(tmp_path):
    # Object 2 is never detected; a detection far from both is background.
    ann = write_json(tmp_path / 'gt.json', dict(
        images=[dict(id=1, width=100, height=100, file_name='a.png')],
        categories=[dict(id=1, name='a')],
        annotations=[square(1, 1, 10, 10), square(2, 1, 50, 50)]))
    dets = write_json(tmp_path / 'dets.json', [
        dict(image_id=1, category_id=1, bbox=[80, 0, 15, 15], score=0.9),
        dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], score=0.8),
    ])
    result = tide_errors(dets, ann)
    # Ranked: background (P 0), hit (P 1/2 at recall 1/2): AP50 = 51/2/101.
    assert result.ap50 == pytest.approx(100 * 0.5 * 51 / 101)
    assert result.counts == dict(Cls=0, Loc=0, Both=0, Dupe=0, Bkg=1, Miss=1)
    assert result.delta_ap['Bkg'] > 0 and result.delta_ap['Miss'] > 0
    assert result.delta_ap['Cls'] == result.delta_ap['Loc'] == 0


def _shifted(segmentation, dx):
    return [[v + dx if i % 2 == 0 else v for i, v in enumerate(poly)]
            for poly in segmentation]


def toy_results_with_errors(ann_file, task):
    """Perfect detections of the toy val set, then one duplicate, one
    mislabelled and one mislocalised detection, all ranked first."""
    coco = json.loads(ann_file.read_text())
    sizes = {im['id']: (im['height'], im['width']) for im in coco['images']}

    def detection(ann, score, category_id=None, dx=0.0):
        x, y, w, h = ann['bbox']
        det = dict(image_id=ann['image_id'],
                   category_id=category_id or ann['category_id'],
                   bbox=[x + dx, y, w, h], score=score)
        if task == 'segm':
            rle = mask_utils.merge(mask_utils.frPyObjects(
                _shifted(ann['segmentation'], dx), *sizes[ann['image_id']]))
            rle['counts'] = rle['counts'].decode()
            det['segmentation'] = rle
        return det

    anns = coco['annotations']
    duplicated, mislabelled, mislocalised = anns[0], anns[1], anns[2]
    dets = [detection(a, 0.9 - 0.01 * i) for i, a in enumerate(anns)
            if a is not mislabelled and a is not mislocalised]
    wrong_class = 1 + mislabelled['category_id'] % 3
    # Half a width to the side: box IoU 1/3, between 0.1 and 0.5.
    side = -0.5 if mislocalised['bbox'][0] > 100 else 0.5
    dets += [
        detection(duplicated, 0.99),
        detection(mislabelled, 0.98, category_id=wrong_class),
        detection(mislocalised, 0.97, dx=side * mislocalised['bbox'][2]),
    ]
    return dets


@pytest.mark.parametrize('task', ['bbox', 'segm'])
def test_injected_errors_land_in_their_categories(tmp_path, task):
    paths = make_toy_coco(tmp_path / 'toy', num_train=1, num_val=4)
    dets = write_json(tmp_path / f'results.{task}.json',
                      toy_results_with_errors(paths['val_ann_file'], task))
    result = tide_errors(dets, paths['val_ann_file'])
    assert result.task == task
    assert result.counts == dict(Cls=1, Loc=1, Both=0, Dupe=1, Bkg=0, Miss=0)
    for kind in ('Cls', 'Loc', 'Dupe'):
        assert result.delta_ap[kind] > 0, (kind, result)
    for kind in ('Both', 'Bkg', 'Miss'):
        assert result.delta_ap[kind] == 0, (kind, result)
    assert 0 < result.ap50 < 100


def test_several_files_side_by_side(tmp_path):
    paths = make_toy_coco(tmp_path / 'toy', num_train=1, num_val=4)
    with_errors = write_json(
        tmp_path / 'errors.bbox.json',
        toy_results_with_errors(paths['val_ann_file'], 'bbox'))
    coco = json.loads(paths['val_ann_file'].read_text())
    perfect = write_json(tmp_path / 'perfect.bbox.json', [
        dict(image_id=a['image_id'], category_id=a['category_id'],
             bbox=a['bbox'], score=0.9) for a in coco['annotations']
    ])
    out = tmp_path / 'report'
    results = analyze_errors([with_errors, perfect], paths['val_ann_file'],
                             out, names=['injected', 'perfect'])
    assert [r.name for r in results] == ['injected', 'perfect']
    assert results[1].ap50 == pytest.approx(100)
    assert all(v == 0 for v in results[1].delta_ap.values())
    saved = json.loads((out / 'errors.json').read_text())
    assert [s['name'] for s in saved] == ['injected', 'perfect']
    assert saved[0]['delta_ap'] == results[0].delta_ap
    table = (out / 'errors.md').read_text().splitlines()
    assert table[2].startswith('| injected | bbox |')
    assert table[3].startswith('| perfect | bbox | 100.00 |')
    with Image.open(out / 'errors.png') as png:
        png.load()
        assert png.size[0] > 200 and png.size[1] > 200


def test_bad_inputs_are_named(tmp_path):
    paths = make_toy_coco(tmp_path / 'toy', num_train=1, num_val=1)
    ann = paths['val_ann_file']
    unknown_image = write_json(tmp_path / 'a.json', [
        dict(image_id=999, category_id=1, bbox=[0, 0, 5, 5], score=0.5)
    ])
    with pytest.raises(ValueError, match=r'a\.json has image ids \[999\]'):
        tide_errors(unknown_image, ann)
    no_score = write_json(tmp_path / 'b.json', [
        dict(image_id=1, category_id=1, bbox=[0, 0, 5, 5])
    ])
    with pytest.raises(ValueError, match=r"detection 0 .*b\.json lacks "
                       r"\['score'\]"):
        tide_errors(no_score, ann)
    not_a_list = write_json(tmp_path / 'c.json', dict(annotations=[]))
    with pytest.raises(ValueError, match='must hold a JSON list'):
        tide_errors(not_a_list, ann)
    with pytest.raises(ValueError, match="task must be one of"):
        tide_errors(unknown_image, ann, task='keypoints')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        tide_errors(tmp_path / 'missing.json', ann)


def test_matplotlib_style_is_left_alone(tmp_path):
    import matplotlib
    matplotlib.rcdefaults()
    before = dict(matplotlib.rcParams)
    ann = write_json(tmp_path / 'gt.json', dict(
        images=[dict(id=1, width=100, height=100, file_name='a.png')],
        categories=[dict(id=1, name='a')], annotations=[square(1, 1, 10, 10)]))
    dets = write_json(tmp_path / 'dets.json', [
        dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], score=0.9)
    ])
    assert tide_errors(dets, ann).ap50 == pytest.approx(100)
    assert dict(matplotlib.rcParams) == before
