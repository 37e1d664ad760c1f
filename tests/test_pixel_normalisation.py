"""Every detector config normalises pixels as its initialisation's
pre-training did: the table in docs/paper_facts.md, which names the source of
each mean and std, is the oracle. And every transform and batch augment that
pads fills with what that normalisation turns into 0."""
import ast
import copy
import functools
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

from mmdet_vit_transfer.datasets import fill_pad_values

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / 'docs' / 'paper_facts.md'
SECTION = '## Pixel normalisation per initialisation'

# Which row of the table a config belongs to, by where it is and how it is
# named; the direct pre-training configs start from random init.
INIT_OF_PREFIX = (
    ('direct/toy_', 'toy'),
    ('direct/', 'random'),
    ('toy_', 'toy'),
    ('random_', 'random'),
    ('supervised_', 'supervised'),
    ('mocov3_', 'mocov3'),
    ('beit_', 'beit'),
    ('mae_', 'mae'),
    ('itpn_', 'itpn'),
    ('frozen/mae_', 'mae'),
    ('frozen/dinov2_', 'dinov2'),
    ('dinov2/', 'dinov2'),
    ('dinov2_reg/', 'dinov2'),
    ('deit3/', 'deit3'),
    ('beitv2/', 'beitv2'),
    ('clip/', 'clip'),
    ('siglip/', 'siglip'),
    ('sam/', 'sam'),
    ('eva02/', 'eva02'),
    ('dinov3/', 'dinov3'),
)


def documented_normalisation():
    """``{init: (mean, std)}`` from the markdown table of docs/paper_facts.md."""
    text = FACTS.read_text().split(SECTION, 1)[1].split('\n## ', 1)[0]
    table = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 4 or not re.fullmatch(r'[\d., ]+', cells[1]):
            continue  # not a row of numbers: header, rule, prose
        mean, std = (tuple(float(v) for v in cell.split(','))
                     for cell in cells[1:3])
        table[cells[0]] = (mean, std)
    return table


def detector_configs():
    """Every config that builds a detector: all but the _base_ pieces, the
    MAE pre-training config (an mmpretrain model), the schedule variants
    (a file that sets only ``train_cfg`` over a sibling config normalises
    as that config, which is checked) and the cascade and Faster R-CNN
    configs, each a 100-epoch config here with other RoI heads and nothing
    else (tests/configs/test_cascade_configs.py, test_faster_configs.py)."""
    return sorted(
        str(p.relative_to(ROOT / 'configs'))
        for p in (ROOT / 'configs').rglob('*.py')
        if '_base_' not in p.parts
        and p.parent.name not in ('pretrain', 'cascade', 'faster')
        and not schedule_variant(p))


def schedule_variant(path):
    names = {target.id for node in ast.parse(path.read_text()).body
             if isinstance(node, ast.Assign) for target in node.targets
             if isinstance(target, ast.Name)}
    return names == {'_base_', 'train_cfg'}


@functools.lru_cache(maxsize=None)
def load(config):
    """A config, loaded once for all the tests of this module."""
    return Config.fromfile(ROOT / 'configs' / config)


def init_of(config):
    for prefix, init in INIT_OF_PREFIX:
        if config.startswith(prefix):
            return init
    raise AssertionError(f'{config}: no initialisation known for this name')


def test_the_table_covers_every_initialisation():
    table = documented_normalisation()
    assert set(table) == {init for _, init in INIT_OF_PREFIX}
    # BEiT's inception normalisation; everything else ImageNet's.
    assert table['beit'] == ((127.5,) * 3, (127.5,) * 3)
    assert table['mae'] == ((123.675, 116.28, 103.53),
                            (58.395, 57.12, 57.375))


@pytest.mark.parametrize('config', detector_configs())
def test_config_normalises_as_its_pretraining(config):
    preprocessor = load(config).model.data_preprocessor
    mean, std = documented_normalisation()[init_of(config)]
    assert tuple(preprocessor.mean) == pytest.approx(mean), config
    assert tuple(preprocessor.std) == pytest.approx(std), config
    # The table is in RGB: the preprocessor must turn mmcv's BGR into RGB.
    assert preprocessor.bgr_to_rgb, config


def dataset_pipeline(dataset):
    """The pipeline of a dataset config, inside dataset wrappers too."""
    return dataset.get('pipeline') or dataset_pipeline(dataset['dataset'])


@pytest.fixture(scope='module')
def white_image(tmp_path_factory):
    """A white 100x20 image, with one object: wide and flat, so that every
    pipeline pads it below (its height at most 410 px after any resize)."""
    path = tmp_path_factory.mktemp('pad') / 'white.png'
    cv2.imwrite(str(path), np.full((20, 100, 3), 255, np.uint8))
    polygon = [10.0, 2.0, 60.0, 2.0, 60.0, 15.0, 10.0, 15.0]
    return dict(img_path=str(path), img_id=0, height=20, width=100,
                seg_map_path=None,
                instances=[dict(bbox=[10.0, 2.0, 60.0, 15.0], bbox_label=0,
                                ignore_flag=0, mask=[polygon])])


@functools.lru_cache(maxsize=None)
def padding_problems(setting: bytes, image: bytes) -> tuple:
    """The pipelines and preprocessor of a config (``setting``, pickled)
    run on the white image (``image``, pickled): ``(split, problem)`` for
    every split whose padding is not 0 after normalisation. Configs with
    the same setting share the result."""
    setting, white_image = pickle.loads(setting), pickle.loads(image)
    init_default_scope('mmdet')
    preprocessor = MODELS.build(setting['data_preprocessor'])
    std = torch.tensor(setting['data_preprocessor']['std']).view(3, 1)
    mean = torch.tensor(setting['data_preprocessor']['mean']).view(3, 1, 1)
    white = (255 - mean) / std.view(3, 1, 1)
    problems = []
    for split, training in (('train', True), ('test', False)):
        sample = Compose(setting[split])(copy.deepcopy(white_image))
        inputs = preprocessor(pseudo_collate([sample]),
                              training=training)['inputs'][0]
        padding = (inputs - white).abs().amax(0) > 1e-4
        if not padding.any():
            problems.append((split, 'no padding'))
        elif not (inputs[:, padding].abs() <= 0.5 / std + 1e-6).all():
            values = inputs[:, padding].amax(1).tolist()
            problems.append((split, f'padding normalised to {values}'))
    return tuple(problems)


@pytest.mark.parametrize('config', detector_configs())
def test_padding_is_zero_after_the_configs_normalisation(config,
                                                          white_image):
    # The oracle is the model's own data_preprocessor: the padded pixels of
    # a white image, through each pipeline and the preprocessor (with its
    # batch augments in training), are 0 within half a grey level; the
    # image's own pixels stay white.
    cfg = fill_pad_values(copy.deepcopy(load(config)))
    setting = dict(data_preprocessor=cfg.model.data_preprocessor.to_dict(),
                   train=dataset_pipeline(cfg.train_dataloader.dataset),
                   test=dataset_pipeline(cfg.test_dataloader.dataset))
    assert padding_problems(pickle.dumps(setting),
                            pickle.dumps(white_image)) == ()
