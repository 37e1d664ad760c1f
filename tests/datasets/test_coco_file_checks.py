"""An empty or malformed annotation file is an error that names the file
and the offending entry."""
import copy
import json

import pytest
from coco_builders import CATEGORIES, box_ann, image_entry

from mmdet_vit_transfer.datasets import AnnotationFileError
from mmdet_vit_transfer.datasets.coco_file_checks import (
    check_class_names, load_coco_annotations)


def write(tmp_path, content):
    path = tmp_path / 'instances.json'
    path.write_text(content if isinstance(content, str) else
                    json.dumps(content))
    return path


def valid():
    return copy.deepcopy(
        dict(images=[image_entry(1), image_entry(2)],
             annotations=[box_ann(1, 1, [1, 2, 10, 10]),
                          box_ann(2, 2, [5, 5, 3, 3], category_id=3)],
             categories=CATEGORIES))


def test_a_valid_file_loads(tmp_path):
    assert load_coco_annotations(write(tmp_path, valid())) == valid()


@pytest.mark.parametrize('content,message', [
    ('', 'the file is empty'),
    ('  \n', 'the file is empty'),
    ('{"images": [', 'not valid JSON: Expecting value at line 1 column 13'),
    ('[1, 2]', 'the top level must be an object'),
    ({'images': [], 'categories': []}, "no annotations list"),
])
def test_empty_or_broken_files(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(AnnotationFileError, match=message) as info:
        load_coco_annotations(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(AnnotationFileError, match='no such file'):
        load_coco_annotations(tmp_path / 'nope.json')


def broken(section, index, **changes):
    data = valid()
    entry = data[section][index]
    for key, value in changes.items():
        if value is ...:
            del entry[key]
        else:
            entry[key] = value
    return data


@pytest.mark.parametrize('data,message', [
    (broken('images', 1, width=...),
     r"images\[1\] \(id 2\): 'width' must be int, got missing"),
    (broken('images', 0, file_name=7),
     r"'file_name' must be str, got 7 \(int\)"),
    (broken('images', 0, height=0), 'has size 64x0; width and height must'),
    (broken('annotations', 0, bbox=[1, 2, 3]),
     r'annotation id 1: bbox must be four numbers .*got \[1, 2, 3\]'),
    (broken('annotations', 1, bbox=[1, 2, 'a', 4]), 'bbox must be four'),
    (broken('annotations', 1, bbox=None), "'bbox' must be list, got None"),
    (broken('annotations', 0, image_id=9),
     "annotation id 1 refers to image_id 9, which is not in 'images'"),
    (broken('annotations', 1, category_id=42),
     r'annotation id 2 \(image_id 2\) has category_id 42, which is not '
     r'declared in categories \(ids \[1, 2, 3\]\)'),
    (broken('annotations', 1, id=1), 'annotations id 1 appears more than'),
    (broken('categories', 0, name=...), "categories\\[0\\] \\(id 1\\)"),
    (broken('categories', 2, name='circle'),
     r"category name 'circle' is used by categories \[1, 3\]; names must "
     'be unique'),
    (dict(valid(), images='x'), "'images' must be a list, got str"),
    (dict(valid(), annotations=[3]), r'annotations\[0\] must be an object'),
])
def test_malformed_entries_are_named(tmp_path, data, message):
    with pytest.raises(AnnotationFileError, match=message):
        load_coco_annotations(write(tmp_path, data))


def test_classes_must_be_category_names_in_file_order(tmp_path):
    check_class_names(('circle', 'square'), CATEGORIES, 'f.json')
    with pytest.raises(AnnotationFileError,
                       match=r"classes \['hexagon'\] .*its categories: "
                       r"'circle' \(id 1\), 'triangle' \(id 2\), 'square' "
                       r"\(id 3\)\)"):
        check_class_names(('circle', 'hexagon'), CATEGORIES, 'f.json')
    with pytest.raises(AnnotationFileError, match='not in the order'):
        check_class_names(('square', 'circle'), CATEGORIES, 'f.json')
