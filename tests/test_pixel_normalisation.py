"""Every detector config normalises pixels as its initialisation's
pre-training did: the table in docs/paper_facts.md, which names the source of
each mean and std, is the oracle."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

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
    MAE pre-training config (an mmpretrain model) and the cascade configs,
    each a 100-epoch config here plus RoI heads and nothing else
    (tests/configs/test_cascade_configs.py)."""
    return sorted(
        str(p.relative_to(ROOT / 'configs'))
        for p in (ROOT / 'configs').rglob('*.py')
        if '_base_' not in p.parts
        and p.parent.name not in ('pretrain', 'cascade'))


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
    cfg = Config.fromfile(ROOT / 'configs' / config)
    preprocessor = cfg.model.data_preprocessor
    mean, std = documented_normalisation()[init_of(config)]
    assert tuple(preprocessor.mean) == pytest.approx(mean), config
    assert tuple(preprocessor.std) == pytest.approx(std), config
    # The table is in RGB: the preprocessor must turn mmcv's BGR into RGB.
    assert preprocessor.bgr_to_rgb, config
