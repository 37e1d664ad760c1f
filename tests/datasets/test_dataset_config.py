"""tools/dataset_config.py checks a COCO-format dataset against a base config
and writes the config that trains it: paths, classes and num_classes from
the training file."""
import importlib.util
import json
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdet_vit_transfer.datasets import AnnotationFileError
from mmdet_vit_transfer.datasets.class_count import check_num_classes
from mmdet_vit_transfer.datasets.dataset_config import (
    DEFAULT_LAYOUT, DatasetConfigError, box_only_counterpart,
    dataset_config_text, num_classes_override, write_dataset_config)
from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco

REPO = Path(__file__).parents[2]
MASK = REPO / 'configs' / 'toy_vit_tiny_maskrcnn_demo.py'
BOXES = REPO / 'configs' / 'toy_vit_tiny_fasterrcnn_demo.py'
CATEGORIES = (('star', 42), ('cross', 7))


@pytest.fixture(scope='module')
def toy_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp('dataset_config')
    args = dict(num_train=2, num_val=1, min_size=64, max_size=96,
                categories=CATEGORIES)
    make_toy_coco(root / 'masks', **args)
    make_toy_coco(root / 'boxes', **args, masks=False)
    return root


def test_the_written_config_trains_the_base_on_the_data(toy_sets, tmp_path,
                                                        capsys):
    spec = importlib.util.spec_from_file_location(
        'dataset_config_tool', REPO / 'tools' / 'dataset_config.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'configs' / 'shapes.py'
    tool.main([str(MASK), str(toy_sets / 'masks'), str(out)])
    assert capsys.readouterr().out.startswith(
        f"{toy_sets / 'masks' / 'annotations' / 'instances_train.json'}: 2 "
        'images, ')
    text = out.read_text()
    assert f"_base_ = '{MASK}'" in text  # no common folder: absolute
    cfg, base = Config.fromfile(str(out)), Config.fromfile(str(MASK))
    for split in ('train', 'val', 'test'):
        dataset = cfg[f'{split}_dataloader'].dataset
        assert dataset.metainfo.classes == ('star', 'cross')
        assert dataset.data_root == f"{toy_sets / 'masks'}/"
        assert dataset.pipeline == \
            base[f'{split}_dataloader'].dataset.pipeline
    assert cfg.train_dataloader.dataset.ann_file == \
        'annotations/instances_train.json'
    assert cfg.val_dataloader.dataset.data_prefix.img == 'val/'
    assert cfg.test_evaluator.ann_file == \
        f"{toy_sets / 'masks'}/annotations/instances_val.json"
    assert cfg.model.roi_head.bbox_head.num_classes == 2
    assert cfg.model.roi_head.mask_head.num_classes == 2
    check_num_classes(cfg)


def test_box_only_data_trains_faster_rcnn(toy_sets, tmp_path):
    out = tmp_path / 'boxes.py'
    summary = write_dataset_config(BOXES, toy_sets / 'boxes', out)
    assert not summary.has_masks
    cfg = Config.fromfile(str(out))
    # Written in a clone, the base is relative to the written config.
    text = dataset_config_text(BOXES, REPO / 'work_dirs' / 'boxes.py',
                               'data/boxes', DEFAULT_LAYOUT, summary, cfg)
    assert "_base_ = '../configs/toy_vit_tiny_fasterrcnn_demo.py'" in text
    assert cfg.model.type == 'FasterRCNN' and cfg.val_evaluator.metric == \
        'bbox'
    assert cfg.model.roi_head.bbox_head.num_classes == 2
    assert cfg.model.roi_head.mask_head is None


def test_box_only_data_is_refused_for_mask_rcnn(toy_sets, tmp_path):
    with pytest.raises(DatasetConfigError) as error:
        write_dataset_config(MASK, toy_sets / 'boxes', tmp_path / 'x.py')
    assert str(error.value) == (
        f"{toy_sets / 'boxes' / 'annotations' / 'instances_train.json'} is "
        'box-only (none of its 2 annotations has a segmentation), and '
        f'{MASK} trains masks (Mask R-CNN): use a Faster R-CNN base, {BOXES}')
    assert not (tmp_path / 'x.py').exists()
    # A Mask R-CNN config without a Faster R-CNN one beside it.
    with pytest.raises(DatasetConfigError,
                       match=r'use a Faster R-CNN base, configs/faster/'
                       r'mae_vitb_fasterrcnn_100e.py or the \*_fasterrcnn_\* '
                       r'config'):
        write_dataset_config(REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py',
                             toy_sets / 'boxes', tmp_path / 'x.py')


def test_the_box_only_counterpart_is_beside_or_in_faster():
    configs = REPO / 'configs'
    assert box_only_counterpart(MASK) == BOXES
    for parent, faster in (
            ('mae_vitb_maskrcnn_100e.py', 'mae_vitb_fasterrcnn_100e.py'),
            ('dinov2/dinov2_vitb_maskrcnn_100e.py',
             'dinov2_vitb_fasterrcnn_100e.py')):
        assert box_only_counterpart(configs / parent) == \
            configs / 'faster' / faster
    assert box_only_counterpart(configs / 'mae_vitb_maskrcnn_25e.py') is None


def test_splits_with_other_categories_are_refused(toy_sets, tmp_path):
    root = tmp_path / 'data'
    make_toy_coco(root, num_train=1, num_val=1, categories=CATEGORIES)
    val = root / 'annotations' / 'instances_val.json'
    data = json.loads(val.read_text())
    data['categories'] = data['categories'][::-1]
    val.write_text(json.dumps(data))
    with pytest.raises(DatasetConfigError,
                       match=r"\[\('star', 42\), \('cross', 7\)\] and of .*"
                       r"\[\('cross', 7\), \('star', 42\)\] differ"):
        write_dataset_config(MASK, root, tmp_path / 'x.py')
    with pytest.raises(FileNotFoundError, match='val image folder'):
        write_dataset_config(MASK, root, tmp_path / 'x.py',
                             val_images='images/val/')
    with pytest.raises(AnnotationFileError, match='no such file'):
        write_dataset_config(MASK, root, tmp_path / 'x.py',
                             train_ann='annotations/train.json')


def test_cascade_heads_are_written_whole():
    model = dict(roi_head=dict(bbox_head=[
        dict(type='A', num_classes=80, loss=dict(w=1)),
        dict(type='B', num_classes=80)], mask_head=dict(num_classes=80)))
    assert num_classes_override(model, 2) == dict(roi_head=dict(
        bbox_head=[dict(type='A', num_classes=2, loss=dict(w=1)),
                   dict(type='B', num_classes=2)],
        mask_head=dict(num_classes=2)))
