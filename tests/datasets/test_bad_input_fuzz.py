"""Random and degenerate annotations through the toy config's full training
pipeline: the dataset either refuses the file with AnnotationFileError or
every sample comes out with finite boxes inside the crop, one mask per box
and valid labels."""
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from coco_builders import CATEGORIES, image_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mmdet.structures.mask import PolygonMasks
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_vit_transfer.datasets import (AnnotationFileError,
                                         ValidatedCocoDataset)

CONFIG = Path(__file__).parents[2] / 'configs' / 'toy_vit_tiny_maskrcnn.py'
CLASSES = ('circle', 'triangle', 'square')
#: A declared category outside the dataset's classes.
EXTRA_CATEGORY = dict(id=4, name='hexagon')


def train_pipeline():
    """The toy config's training pipeline (it loads with checks)."""
    pipeline = Config.fromfile(str(CONFIG)).train_pipeline
    assert pipeline[0]['type'] == 'CheckedLoadImageFromFile'
    return pipeline


PIPELINE = train_pipeline()
OUTPUT_SIZE = Config.fromfile(str(CONFIG)).image_size[0]

coordinate = st.one_of(
    st.floats(-50, 150),
    st.sampled_from([0.0, -0.0, 1e-9, 1e30, -1e30, 1e300, math.nan,
                     math.inf, -math.inf]),
    st.integers(-10, 120))
polygon_part = st.lists(coordinate, min_size=0, max_size=14)
segmentation = st.one_of(
    st.none(),
    st.just([]),
    st.lists(polygon_part, min_size=1, max_size=3),
    st.builds(lambda h, w, counts: dict(size=[h, w], counts=counts),
              st.integers(0, 100), st.integers(0, 100),
              st.one_of(st.text(max_size=12),
                        st.lists(st.integers(-5, 5000), max_size=6))),
    st.just('not a mask'))
annotation = st.fixed_dictionaries(
    dict(bbox=st.lists(coordinate, min_size=4, max_size=4),
         category_id=st.sampled_from([1, 2, 3, EXTRA_CATEGORY['id']]),
         iscrowd=st.sampled_from([0, 0, 0, 1]),
         segmentation=segmentation))
image_spec = st.tuples(
    st.integers(16, 96), st.integers(16, 96),
    st.lists(annotation, min_size=0, max_size=5),
    st.sampled_from(['RGB', 'RGB', 'L', 'RGBA', 'I;16']))
broken_file = st.sampled_from([
    None, None, None, None, 'empty', 'not json', 'short bbox',
    'undeclared category'
])


def write_set(root: Path, images, problem):
    img_dir = root / 'img'
    img_dir.mkdir()
    entries, anns = [], []
    for image_id, (width, height, image_anns, mode) in enumerate(images, 1):
        name = f'{image_id}.png'
        (img_dir / name).write_bytes(
            image_bytes(width, height, mode, seed=image_id)[0])
        entries.append(dict(id=image_id, file_name=name, width=width,
                            height=height))
        for ann in image_anns:
            anns.append(dict(ann, id=len(anns) + 1, image_id=image_id))
    if anns and problem == 'short bbox':
        anns[0]['bbox'] = anns[0]['bbox'][:3]
    if anns and problem == 'undeclared category':
        anns[-1]['category_id'] = 99
    text = json.dumps(dict(images=entries, annotations=anns,
                           categories=CATEGORIES + [EXTRA_CATEGORY]))
    if problem == 'empty':
        text = ''
    elif problem == 'not json':
        text = text[:len(text) // 2]
    (root / 'instances.json').write_text(text)
    return anns


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(images=st.lists(image_spec, min_size=1, max_size=3),
       problem=broken_file, seed=st.integers(0, 2**32 - 1))
def test_bad_annotations_never_crash_the_train_pipeline(images, problem,
                                                        seed):
    init_default_scope('mmdet')
    np.random.seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        anns = write_set(root, images, problem)
        # A file where no annotation has a mask is box-only: refused for
        # mask training.
        box_only = anns and not any(a.get('segmentation') for a in anns)
        refused = problem in ('empty', 'not json') or bool(anns) and (
            problem in ('short bbox', 'undeclared category') or box_only)
        try:
            dataset = ValidatedCocoDataset(
                data_root=str(root), ann_file='instances.json',
                data_prefix=dict(img='img/'),
                metainfo=dict(classes=CLASSES),
                filter_cfg=dict(filter_empty_gt=False), pipeline=PIPELINE,
                serialize_data=False)  # serialising runs gc.collect, 0.5 s
        except AnnotationFileError as error:
            assert refused, error
            assert 'instances.json' in str(error)
            return
        assert not refused
        assert len(dataset) == len(images)
        for index in range(len(dataset)):
            check_sample(dataset[index])


def check_sample(data):
    inputs, sample = data['inputs'], data['data_samples']
    assert inputs.shape == (3, OUTPUT_SIZE, OUTPUT_SIZE)
    assert inputs.dtype == torch.uint8
    for instances in (sample.gt_instances, sample.ignored_instances):
        boxes = instances.bboxes.tensor if hasattr(
            instances.bboxes, 'tensor') else instances.bboxes
        assert torch.isfinite(boxes).all()
        assert (boxes >= 0).all() and (boxes <= OUTPUT_SIZE).all()
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
        assert len(instances.masks) == len(boxes) == len(instances.labels)
        assert ((instances.labels >= 0) &
                (instances.labels < len(CLASSES))).all()
        masks = instances.masks
        assert (masks.height, masks.width) == (OUTPUT_SIZE, OUTPUT_SIZE)
        if isinstance(masks, PolygonMasks):
            for polygon in (p for obj in masks.masks for p in obj):
                assert np.isfinite(polygon).all()
                assert ((polygon >= 0) & (polygon <= OUTPUT_SIZE)).all()
        elif len(masks):
            assert masks.masks.shape[1:] == (OUTPUT_SIZE, OUTPUT_SIZE)
