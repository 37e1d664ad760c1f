"""A head's num_classes that is not the number of dataset classes stops the
run before anything is built, with one line naming both."""
import copy

import pytest
from mmengine.config import Config

from mmdet_vit_transfer.datasets.class_count import (NumClassesError,
                                                     check_num_classes,
                                                     dataset_classes,
                                                     head_num_classes)
from mmdet_vit_transfer.engine.runner import TransferRunner

TOY = 'configs/toy_vit_tiny_maskrcnn.py'


@pytest.fixture(scope='module')
def toy():
    return Config.fromfile(TOY)


def test_heads_and_classes_are_found_and_agree(toy):
    assert head_num_classes(toy.model) == [
        ('model.roi_head.bbox_head.num_classes', 3),
        ('model.roi_head.mask_head.num_classes', 3)]
    check_num_classes(toy)
    boxes = Config.fromfile('configs/faster/mae_vitb_fasterrcnn_100e.py')
    assert head_num_classes(boxes.model) == [
        ('model.roi_head.bbox_head.num_classes', 80)]
    # No metainfo: the dataset type's classes (COCO's 80).
    assert len(dataset_classes(boxes.train_dataloader.dataset, 'd')) == 80
    check_num_classes(boxes)
    cascade = dict(rpn_head=dict(num_classes=1), roi_head=dict(
        bbox_head=[dict(num_classes=3), dict(num_classes=3)]))
    assert head_num_classes(cascade) == [
        ('model.roi_head.bbox_head.0.num_classes', 3),
        ('model.roi_head.bbox_head.1.num_classes', 3)]
    wrapped = dict(type='RepeatDataset', times=2,
                   dataset=dict(metainfo=dict(classes=('a', 'b'))))
    assert dataset_classes(wrapped, 'd') == ('a', 'b')


def test_the_toy_config_with_other_classes_stops_the_run(toy):
    """The toy config copied for a 2-class set, num_classes left at 3."""
    cfg = copy.deepcopy(toy)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.metainfo = dict(
            classes=('star', 'cross'))
    with pytest.raises(SystemExit) as error:
        TransferRunner.from_cfg(cfg)
    assert str(error.value).splitlines()[-1] == (
        'error: model.roi_head.bbox_head.num_classes is 3, but '
        "train_dataloader.dataset has 2 classes ('star', 'cross'): set "
        'num_classes=2 in every head (tools/dataset_config.py writes classes '
        'and num_classes from the annotation file)')


def test_one_class_written_as_a_string_is_an_error(toy):
    cfg = copy.deepcopy(toy)
    cfg.val_dataloader.dataset.metainfo = dict(classes='star')
    with pytest.raises(NumClassesError,
                       match=r"val_dataloader.dataset.metainfo.classes is the "
                       r"string 'star'; .* \('star',\)"):
        check_num_classes(cfg)
