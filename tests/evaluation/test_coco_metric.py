"""At test time an image that cannot be loaded stops the run, or with
on_unreadable_image='skip' is left out of the evaluation, which says how
many images it evaluated."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import DATASETS

from mmdet_vit_transfer.datasets import fill_pad_values, make_toy_coco
from mmdet_vit_transfer.datasets.transforms import ImageLoadError
from mmdet_vit_transfer.datasets.transforms.checked_loading import \
    NOT_LOADED_KEY
from mmdet_vit_transfer.evaluation import ValidatedCocoMetric

CONFIG = Path(__file__).parents[2] / 'configs' / 'toy_vit_tiny_maskrcnn.py'
CLASSES = ('circle', 'triangle', 'square')


@pytest.fixture(scope='module')
def toy_val(tmp_path_factory):
    """A toy validation set of two images, the first of which is text."""
    root = tmp_path_factory.mktemp('unreadable') / 'toy_coco'
    make_toy_coco(root, num_train=1, num_val=2)
    (root / 'val' / '000001.png').write_text('not an image\n')
    return root


def toy_test_dataset(toy_val, policy):
    cfg = fill_pad_values(Config.fromfile(CONFIG))
    init_default_scope('mmdet')
    dataset = dict(cfg.test_dataloader.dataset, data_root=f'{toy_val}/',
                   on_unreadable_image=policy)
    return DATASETS.build(dataset)


def test_an_unreadable_test_image_stops_the_run_by_default(toy_val):
    dataset = toy_test_dataset(toy_val, 'error')
    with pytest.raises(ImageLoadError, match='000001.png: corrupt'):
        dataset[0]


def perfect_predictions(annotations, img_id):
    """The objects of one image as predictions, scored 1."""
    anns = [a for a in annotations['annotations'] if a['image_id'] == img_id]
    boxes = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
    labels = [[c['id'] for c in annotations['categories']].index(
        a['category_id']) for a in anns]
    return dict(bboxes=torch.tensor(boxes, dtype=torch.float32),
                scores=torch.ones(len(anns)),
                labels=torch.tensor(labels))


def test_a_skipped_image_is_left_out_of_the_evaluation(toy_val):
    dataset = toy_test_dataset(toy_val, 'skip')
    unreadable, readable = dataset[0], dataset[1]
    record = unreadable['data_samples'].metainfo[NOT_LOADED_KEY]
    assert record['kind'] == 'undecodable'
    assert record['path'].endswith('val/000001.png')
    # A black stand-in of the annotated size keeps its place in the batch.
    assert unreadable['inputs'].shape == readable['inputs'].shape
    assert NOT_LOADED_KEY not in readable['data_samples'].metainfo

    ann_file = toy_val / 'annotations' / 'instances_val.json'
    annotations = json.loads(ann_file.read_text())
    metric = ValidatedCocoMetric(ann_file=str(ann_file), metric='bbox')
    metric.dataset_meta = dict(classes=CLASSES)
    samples = []
    for sample in (unreadable, readable):
        sample = sample['data_samples'].to_dict()
        # The stand-in's predictions would be empty: scored, they would
        # count its objects as missed.
        sample['pred_instances'] = perfect_predictions(
            annotations, sample['img_id']) if NOT_LOADED_KEY not in sample \
            else dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                      labels=torch.zeros(0, dtype=torch.long))
        samples.append(sample)
    metric.process({}, samples)
    metrics = metric.evaluate(size=2)
    assert metrics['coco/bbox_mAP'] == pytest.approx(1.0)
    assert metric.summary == (
        'COCO evaluation over 1 of the 2 images: 1 could not be loaded and '
        f"are left out: {record['path']} (undecodable)")
