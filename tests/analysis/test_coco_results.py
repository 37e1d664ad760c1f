"""Predictions become COCO result entries with the dataset's category ids and
class names, and score against its annotation file."""
import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmdet_vit_transfer.analysis.coco_results import (category_ids,
                                                      coco_results, image_ids)
from mmdet_vit_transfer.datasets import AnnotationFileError


def annotation_file(tmp_path):
    """Two images (ids 11, 12), categories star (42) and cross (7)."""
    data = dict(
        images=[dict(id=11, file_name='sub/a.png', width=50, height=40),
                dict(id=12, file_name='sub/b.png', width=50, height=40)],
        annotations=[
            dict(id=1, image_id=11, category_id=42, bbox=[1, 2, 10, 20],
                 area=200, iscrowd=0),
            dict(id=2, image_id=12, category_id=7, bbox=[5, 5, 30, 10],
                 area=300, iscrowd=0)],
        categories=[dict(id=42, name='star'), dict(id=7, name='cross')])
    path = tmp_path / 'val.json'
    path.write_text(json.dumps(data))
    return path


def test_entries_carry_the_datasets_ids_and_names(tmp_path):
    ann_file = annotation_file(tmp_path)
    images = [Path('a.png'), Path('b.png')]
    classes = ('star', 'cross')
    predictions = [
        dict(labels=[0, 1], scores=[0.9, 0.2],
             bboxes=[[1, 2, 11, 22], [0, 0, 5, 5]]),
        dict(labels=[1], scores=[0.8], bboxes=[[5, 5, 35, 15]]),
    ]
    ids = category_ids(classes, {}, ann_file=ann_file)
    results = coco_results(predictions, images, image_ids(images, ann_file),
                           classes, ids)
    assert results[0] == dict(image_id=11, file_name='a.png',
                              category_id=42, category_name='star',
                              bbox=[1, 2, 10, 20], score=0.9)
    assert [(r['image_id'], r['category_id'], r['category_name'])
            for r in results] == [(11, 42, 'star'), (11, 7, 'cross'),
                                  (12, 7, 'cross')]
    # pycocotools reads and scores them: both objects found.
    gt = COCO(str(ann_file))
    evaluation = COCOeval(gt, gt.loadRes(results), 'bbox')
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[1] == pytest.approx(1.0)  # AP at IoU 0.5


def test_where_category_and_image_ids_come_from(tmp_path):
    ann_file = annotation_file(tmp_path)
    recorded = dict(category_ids=(3, 4))
    classes = ('star', 'cross')
    # The file given first, then the checkpoint's record, then the
    # config's test file.
    assert category_ids(classes, recorded, ann_file=ann_file) == [42, 7]
    assert category_ids(classes, recorded, None, ann_file) == [3, 4]
    assert category_ids(classes, {}, None, ann_file) == [42, 7]
    with pytest.raises(FileNotFoundError, match='give the annotation file'):
        category_ids(classes, {}, None, tmp_path / 'missing.json')
    with pytest.raises(AnnotationFileError,
                       match=r"classes \['square'\] are not category names"):
        category_ids(('star', 'square'), {}, ann_file=ann_file)
    assert image_ids([Path('x.png'), Path('y.png')]) == [1, 2]
    with pytest.raises(AnnotationFileError,
                       match=r"1 of the 2 images .* \['c.png'\]"):
        image_ids([Path('a.png'), Path('c.png')], ann_file)
