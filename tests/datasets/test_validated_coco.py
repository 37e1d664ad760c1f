"""ValidatedCocoDataset: mmdet's CocoDataset on valid data; errors, counted
skips and replaced samples on bad data."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
from coco_builders import (CATEGORIES, CLASSES, box_ann, image_entry,
                           write_coco)
from mmdet.datasets import CocoDataset
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmdet_vit_transfer.datasets import (AnnotationFileError,
                                         ValidatedCocoDataset)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.datasets.transforms import ImageLoadError
from mmdet_vit_transfer.datasets.validated_coco import REPLACED_SAMPLES_KEY
from mmdet_vit_transfer.engine.hooks import SkippedSampleHook
from mmdet_vit_transfer.engine.hooks.skipped_samples import TOTALS_KEY

LOADING = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs'),
]


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def build(root, ann_file='instances.json', dataset_type=ValidatedCocoDataset,
          prefix='img/', **kwargs):
    kwargs.setdefault('pipeline', [])
    kwargs.setdefault('serialize_data', False)  # saves a gc.collect
    kwargs.setdefault('metainfo', dict(classes=CLASSES))
    return dataset_type(
        data_root=str(root), ann_file=ann_file, data_prefix=dict(img=prefix),
        **kwargs)


def test_valid_data_gives_mmdets_data_list(tmp_path):
    make_toy_coco(tmp_path, num_train=6, num_val=1)
    args = dict(ann_file='annotations/instances_train.json', prefix='train/',
                filter_cfg=dict(filter_empty_gt=True, min_size=32))
    ours = build(tmp_path, **args)
    reference = build(tmp_path, dataset_type=CocoDataset, **args)
    assert not ours.issue_counts
    assert len(ours) == len(reference) == 6
    for i in range(6):
        mine, theirs = ours.get_data_info(i), reference.get_data_info(i)
        assert mine.keys() == theirs.keys()
        assert len(mine['instances']) == len(theirs['instances']) > 0
        for a, b in zip(mine['instances'], theirs['instances']):
            assert a['bbox'] == b['bbox']
            assert (a['bbox_label'], a['ignore_flag']) == (b['bbox_label'],
                                                           b['ignore_flag'])
            assert len(a['mask']) == len(b['mask']) > 0
            assert all(np.array_equal(p, q)
                       for p, q in zip(a['mask'], b['mask']))
        for key in ('img_path', 'img_id', 'height', 'width'):
            assert mine[key] == theirs[key]


def degenerate_set(tmp_path):
    images = [image_entry(1), image_entry(2), image_entry(3)]
    anns = [
        box_ann(1, 1, [2, 3, 10, 5]),                       # fine
        box_ann(2, 1, [2, 3, 0, 5]),                        # empty
        box_ann(3, 1, [2, 3, -4, 5]),                       # negative
        box_ann(4, 1, [math.nan, 3, 4, 5]),                 # non-finite
        box_ann(5, 1, [100, 100, 4, 5]),                    # outside
        box_ann(6, 1, [60, 40, 10, 10]),                    # clipped, kept
        box_ann(7, 2, [1, 1, 0.5, 9]),                      # tiny
        box_ann(8, 2, [1, 1, 9, 9], segmentation=[[1, 2, 3, 4]]),
        box_ann(9, 2, [1, 1, 9, 9],
                segmentation=[[1, 1, 9, 1, 9, 9], [1, 2, 3]]),
        box_ann(10, 2, [1, 1, 9, 9], segmentation=None),
        box_ann(11, 2, [1, 1, 9, 9], category_id=2, iscrowd=1,
                segmentation=dict(size=[10, 10], counts='abc')),
    ]
    categories = CATEGORIES + [dict(id=9, name='hexagon')]
    anns.append(box_ann(12, 2, [1, 1, 9, 9], category_id=9))
    write_coco(tmp_path, images, anns, categories=categories)


def test_degenerate_annotations_are_dropped_and_counted(tmp_path):
    degenerate_set(tmp_path)
    dataset = build(tmp_path, filter_cfg=dict(filter_empty_gt=True))
    assert dict(dataset.issue_counts) == dict(
        box_empty=2, box_non_finite=1, box_outside_image=1, box_clipped=1,
        box_tiny=1, mask_invalid=2, polygon_part_dropped=1, mask_missing=1,
        category_not_in_classes=1, image_without_annotations=1)
    first, second = (dataset.get_data_info(i) for i in range(2))
    assert [inst['bbox'] for inst in first['instances']] == [
        [2, 3, 12, 8], [60, 40, 64, 48]]
    assert len(second['instances']) == 1
    assert second['instances'][0]['mask'] == [[1.0, 1.0, 9.0, 1.0, 9.0,
                                               9.0]]
    assert len(dataset) == 2  # image 3 has no annotation
    report = dataset.issue_report()
    assert 'box_empty: bbox width or height is zero or negative; e.g. ' \
        'annotation 2 of 001.png; annotation 3 of 001.png' in report
    assert 'image_without_annotations' in report and '003.png' in report


def test_masks_are_not_checked_for_box_only_training(tmp_path):
    degenerate_set(tmp_path)
    dataset = build(tmp_path, check_masks=False)
    assert not {'mask_invalid', 'mask_missing'} & set(dataset.issue_counts)
    assert len(dataset.get_data_info(1)['instances']) == 4  # 8 to 11


def test_images_without_annotations_are_kept_for_testing(tmp_path):
    degenerate_set(tmp_path)
    assert len(build(tmp_path, test_mode=True)) == 3
    assert len(build(tmp_path)) == 3  # no filter_cfg


def test_undeclared_category_is_an_error(tmp_path):
    anns = [box_ann(1, 1, [1, 1, 5, 5], category_id=77)]
    write_coco(tmp_path, [image_entry(1)], anns)
    with pytest.raises(AnnotationFileError,
                       match='annotation id 1 .* category_id 77'):
        build(tmp_path)


def test_unknown_class_is_an_error(tmp_path):
    write_coco(tmp_path, [image_entry(1)], [],
               categories=[dict(id=1, name='circle')])
    with pytest.raises(AnnotationFileError, match='triangle'):
        build(tmp_path)


def test_classes_out_of_the_files_order_are_an_error(tmp_path):
    write_coco(tmp_path, [image_entry(1)], [box_ann(1, 1, [1, 1, 9, 9])])
    with pytest.raises(AnnotationFileError,
                       match=r"classes \('square', 'circle'\) .* not in the "
                       r"order of the file's categories \('circle' \(id 1\)"):
        build(tmp_path, metainfo=dict(classes=('square', 'circle')))


def test_non_contiguous_category_ids_are_labels_in_file_order(tmp_path):
    categories = [dict(id=42, name='cross'), dict(id=7, name='star')]
    anns = [box_ann(1, 1, [1, 1, 9, 9], category_id=7),
            box_ann(2, 1, [20, 20, 9, 9], category_id=42)]
    write_coco(tmp_path, [image_entry(1)], anns, categories=categories)
    dataset = build(tmp_path, metainfo=dict(classes=('cross', 'star')))
    assert [i['bbox_label'] for i in dataset.get_data_info(0)['instances']
            ] == [1, 0]
    assert dataset.metainfo['category_ids'] == (42, 7)


def test_a_box_only_file_is_refused_for_mask_training(tmp_path):
    anns = [box_ann(i, 1, [1, 1, 9, 9]) for i in (1, 2)]
    for ann in anns:
        del ann['segmentation']
    write_coco(tmp_path, [image_entry(1)], anns)
    with pytest.raises(AnnotationFileError) as error:
        build(tmp_path)
    assert str(error.value).startswith(
        f"annotation file {tmp_path / 'instances.json'}: none of its 2 "
        'annotations has a segmentation: it is box-only, and this config '
        'trains masks (Mask R-CNN); train it with a Faster R-CNN config '
        '(configs/faster/mae_vitb_fasterrcnn_100e.py')
    assert len(build(tmp_path, check_masks=False)) == 1


def test_malformed_file_is_an_error(tmp_path):
    (tmp_path / 'instances.json').write_text('{"images": [}')
    with pytest.raises(AnnotationFileError, match='instances.json'):
        build(tmp_path)


def test_missing_images_are_an_error_or_counted(tmp_path):
    images = [image_entry(i) for i in range(1, 4)]
    anns = [box_ann(i, i, [1, 1, 9, 9]) for i in range(1, 4)]
    write_coco(tmp_path, images, anns)
    (tmp_path / 'img' / '002.png').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r'1 of 3 images .* do not exist: .*002\.png'):
        build(tmp_path)
    dataset = build(tmp_path, on_missing_image='skip')
    assert len(dataset) == 2 and dataset.issue_counts['image_missing'] == 1
    with pytest.raises(ValueError, match="'ignore'"):
        build(tmp_path, on_missing_image='ignore')


def test_an_empty_annotations_list_leaves_no_training_image(tmp_path):
    write_coco(tmp_path, [image_entry(1), image_entry(2)], [])
    with pytest.raises(AnnotationFileError) as error:
        build(tmp_path, filter_cfg=dict(filter_empty_gt=True))
    assert str(error.value) == (
        f"annotation file {tmp_path / 'instances.json'}: none of its 2 "
        'images is usable (2 image_without_annotations); its '
        "'annotations' list is empty. Training needs images with objects "
        '(filter_cfg.filter_empty_gt=True drops the others)')
    # Tests and evaluation keep images without objects.
    assert len(build(tmp_path, test_mode=True)) == 2


def test_no_usable_image_names_the_reasons(tmp_path):
    write_coco(tmp_path, [image_entry(1), image_entry(2, width=16)],
               [box_ann(1, 1, [1, 1, 0, 5]), box_ann(2, 2, [1, 1, 9, 9])])
    with pytest.raises(AnnotationFileError,
                       match=r'none of its 2 images is usable \(1 '
                       r'image_without_annotations, 1 image_too_small\)'):
        build(tmp_path, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    write_coco(tmp_path, [], [])
    with pytest.raises(AnnotationFileError, match="'images' list is empty"):
        build(tmp_path, test_mode=True)


def set_with_a_corrupt_image(tmp_path):
    images = [image_entry(1), image_entry(2, _bytes=b'corrupt'),
              image_entry(3)]
    anns = [box_ann(i, i, [1, 1, 20, 20]) for i in range(1, 4)]
    write_coco(tmp_path, images, anns)


def test_unloadable_training_image_is_replaced_and_recorded(tmp_path):
    set_with_a_corrupt_image(tmp_path)
    dataset = build(tmp_path, pipeline=LOADING)
    np.random.seed(0)
    data = dataset[1]
    sample = data['data_samples']
    assert sample.img_path != str(tmp_path / 'img' / '002.png')
    [record] = sample.metainfo[REPLACED_SAMPLES_KEY]
    assert record['kind'] == 'undecodable'
    assert record['path'].endswith('002.png')
    # The record travels once, with the replacement only.
    assert REPLACED_SAMPLES_KEY not in dataset[0]['data_samples'].metainfo


def test_unloadable_test_image_is_an_error(tmp_path):
    set_with_a_corrupt_image(tmp_path)
    dataset = build(tmp_path, pipeline=LOADING, test_mode=True)
    with pytest.raises(ImageLoadError, match='002.png'):
        dataset[1]


def test_replaced_images_are_counted_per_epoch(tmp_path):
    set_with_a_corrupt_image(tmp_path)
    dataset = build(tmp_path, pipeline=LOADING)
    (tmp_path / 'img' / '003.png').unlink()  # gone after the start
    np.random.seed(0)
    hook = SkippedSampleHook()
    runner = SimpleNamespace(
        message_hub=MessageHub.get_instance('replaced-images-test'),
        epoch=0)
    expected = dict(missing=0, undecodable=0)
    for epoch in range(2):
        runner.epoch = epoch
        batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
        records = [record for sample in batch['data_samples']
                   for record in sample.metainfo.get(REPLACED_SAMPLES_KEY, [])]
        for kind in expected:
            # 002.png and 003.png are tried at least once per epoch (more
            # when a random replacement draws them again).
            assert any(record['kind'] == kind for record in records)
            expected[kind] += sum(record['kind'] == kind
                                  for record in records)
        hook.after_train_iter(runner, 0, batch)
        hook.after_train_epoch(runner)
    totals = runner.message_hub.get_info(TOTALS_KEY)
    assert {kind: n for kind, n in totals.items() if n} == expected
