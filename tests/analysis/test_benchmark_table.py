import csv
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from mmdet_vit_transfer.analysis import (find_run_dirs, parse_run_name,
                                         read_run, summarize_benchmark)
from mmdet_vit_transfer.analysis.benchmark_table import benchmark_cells
from mmdet_vit_transfer.analysis.runs import RunName
from mmdet_vit_transfer.analysis.paper_results import (PUBLISHED_BEST,
                                                       PUBLISHED_BY_SCHEDULE)


def write_run(root, name, evaluations, max_epochs, launch='20260101_000000',
              dump_name=None):
    """A work dir as mmengine leaves it: the dumped config at the root and
    per launch ``vis_data/{scalars.json,config.py}``."""
    work_dir = root / name
    vis = work_dir / launch / 'vis_data'
    vis.mkdir(parents=True)
    config = f'train_cfg = dict(max_epochs={max_epochs})\n'
    (vis / 'config.py').write_text(config)
    (work_dir / f'{dump_name or name}.py').write_text(config)
    rows = []
    for epoch, box, mask in evaluations:
        rows.append(dict(loss=1.0, step=epoch * 10))
        row = {'coco/bbox_mAP': box, 'step': epoch}
        if mask is not None:
            row['coco/segm_mAP'] = mask
        rows.append(row)
    (vis / 'scalars.json').write_text(''.join(
        json.dumps(r) + '\n' for r in rows))
    return work_dir


@pytest.fixture
def grid(tmp_path):
    """The paper's ViT-B MAE schedules, a random-init run without masks,
    a ViT-L run, and two runs that must be left out."""
    root = tmp_path / 'work_dirs'
    for epochs, box, mask in ((25, 0.481, 0.426), (50, 0.501, 0.444),
                              (100, 0.503, 0.449)):
        write_run(root, f'mae_vitb_maskrcnn_{epochs}e',
                  [(epochs // 2, 0.3, 0.3), (epochs, box, mask)], epochs)
    for epochs, box in ((100, 0.450), (200, 0.489), (400, 0.489)):
        write_run(root, f'random_vitb_maskrcnn_{epochs}e',
                  [(epochs, box, None)], epochs)
    write_run(root, 'mae_vitl_maskrcnn_100e', [(100, 0.533, 0.472)], 100)
    write_run(root, 'beit_vitb_maskrcnn_50e', [(10, 0.2, 0.2)], 50)
    write_run(root, 'my_experiment', [(12, 0.4, 0.35)], 12)
    return root


def test_run_names():
    assert parse_run_name('mae_vitb_maskrcnn_25e.py') == RunName('mae', 'b',
                                                                 25)
    assert parse_run_name('mocov3_vitl_maskrcnn_100e') == RunName(
        'mocov3', 'l', 100, 'full', 'mask_rcnn', None)
    assert parse_run_name('dinov2_reg4_vitb_maskrcnn_100e.py') == RunName(
        'dinov2_reg4', 'b', 100)
    assert parse_run_name('direct_vittiny_maskrcnn_4e') == RunName(
        'direct', 'tiny', 4)
    # The protocol, the detector and the seed.
    assert parse_run_name('mae_vitb_frozen_maskrcnn_100e') == RunName(
        'mae', 'b', 100, 'frozen')
    assert parse_run_name('dinov2_reg4_vitl_cascade_maskrcnn_100e.py') == \
        RunName('dinov2_reg4', 'l', 100, 'full', 'cascade')
    assert parse_run_name('beit_vitb_fasterrcnn_50e_seed12') == RunName(
        'beit', 'b', 50, 'full', 'faster_rcnn', 12)
    assert parse_run_name('mae_vitb_frozen_cascade_maskrcnn_100e_seed0') == \
        RunName('mae', 'b', 100, 'frozen', 'cascade', 0)
    for name in ('mae_vitb_cascade_fasterrcnn_100e', 'mae_vitb_maskrcnn_1x',
                 'mae_vitb_maskrcnn_100e_seed', 'mae_vitb_half_maskrcnn_100e'):
        with pytest.raises(ValueError, match='is not a benchmark run name'):
            parse_run_name(name)
    with pytest.raises(ValueError, match=r"'toy_vit_tiny_maskrcnn' is not a "
                       r'benchmark run name: expected \{init\}_vit'):
        parse_run_name('toy_vit_tiny_maskrcnn')


def test_run_is_read_from_its_last_evaluation(grid):
    run = read_run(grid / 'mae_vitb_maskrcnn_50e')
    assert (run.init, run.size, run.epochs) == ('mae', 'b', 50)
    assert run.box_ap == pytest.approx(50.1)
    assert run.mask_ap == pytest.approx(44.4)
    assert run.size_label == 'ViT-B'
    assert read_run(grid / 'random_vitb_maskrcnn_100e').mask_ap is None
    with pytest.raises(ValueError, match='unfinished: its last evaluation is '
                       'at epoch 10 of 50'):
        read_run(grid / 'beit_vitb_maskrcnn_50e')
    with pytest.raises(ValueError, match='cannot tell which experiment'):
        read_run(grid / 'my_experiment')


def test_config_name_or_work_dir_name_identify_a_run(tmp_path):
    # mmdet's default work dir is named after the config; a renamed work dir
    # is still identified by the config dumped in it, and the epochs come
    # from the config that ran, not from the name.
    write_run(tmp_path, 'renamed', [(30, 0.4, 0.3)], 30,
              dump_name='supervised_vitl_maskrcnn_50e')
    run = read_run(tmp_path / 'renamed')
    assert (run.init, run.size, run.epochs) == ('supervised', 'l', 30)


def test_tables_mark_the_best_schedule(grid, tmp_path):
    summary = summarize_benchmark([grid], tmp_path / 'out')
    assert len(summary.runs) == 7
    assert sorted(p.name for p, _ in summary.skipped) == [
        'beit_vitb_maskrcnn_50e', 'my_experiment'
    ]
    text = summary.files['markdown'].read_text()
    # The paper's value beside each entry.
    assert '| initialisation | ViT-B | paper | ViT-L | paper |' in text
    # Random: 200 and 400 epochs tie at 48.9 box AP: the shorter one wins.
    assert '| random | 48.9 / - (200 ep) | 48.9 / 43.6 | - | 50.7 / 44.9 |' \
        in text
    assert ('| mae | 50.3 / 44.9 (100 ep) | 50.3 / 44.9 | 53.3 / 47.2 '
            '(100 ep) | 53.3 / 47.2 |') in text
    assert ('| initialisation | size | 25 ep | 50 ep | 100 ep | 200 ep | '
            '400 ep |') in text
    assert ('| random | ViT-B |  |  | 45.0 / - | **48.9 / -** | 48.9 / - |'
            in text)
    assert ('| mae | ViT-B | 48.1 / 42.6 (paper 48.1 / 43.2) | 50.1 / 44.4 '
            '(paper 50.1 / 44.6) | **50.3 / 44.9** (paper 50.3 / 44.9) |  '
            '|  |') in text
    assert text.index('| random |') < text.index('| mae |')

    with summary.files['csv'].open() as f:
        rows = list(csv.DictReader(f))
    assert [(r['init'], r['size'], r['epochs'], r['best']) for r in rows] == [
        ('random', 'b', '100', '0'), ('random', 'b', '200', '1'),
        ('random', 'b', '400', '0'), ('mae', 'b', '25', '0'),
        ('mae', 'b', '50', '0'), ('mae', 'b', '100', '1'),
        ('mae', 'l', '100', '1')
    ]
    assert rows[3]['box_ap'] == '48.10' and rows[3]['mask_ap'] == '42.60'
    assert rows[0]['mask_ap'] == ''

    with Image.open(summary.files['plot']) as png:
        png.load()
        # Two sizes side by side, box and mask AP stacked.
        assert png.size == (900, 700)


def test_no_paper_column_for_sizes_the_paper_lacks(tmp_path):
    write_run(tmp_path, 'random_vittiny_maskrcnn_2e', [(2, 0.1, 0.05)], 2)
    text = summarize_benchmark([tmp_path], tmp_path / 'out').files[
        'markdown'].read_text()
    assert '| initialisation | ViT-Tiny |\n' in text
    assert '| random | 10.0 / 5.0 (2 ep) |\n' in text


def test_published_values_are_the_readme_table():
    readme = (Path(__file__).parents[2] / 'README.md').read_text()
    names = {'random': 'random', 'supervised': 'supervised',
             'MoCo v3': 'mocov3', 'BEiT': 'beit', 'MAE': 'mae'}
    rows = re.findall(r'^\| (random|supervised|MoCo v3|BEiT|MAE) \| .*?'
                      r'\[([\d.]+) / ([\d.]+)\].*?\[([\d.]+) / ([\d.]+)\]',
                      readme, re.M)
    assert len(rows) == 5
    table = {}
    for name, box_b, mask_b, box_l, mask_l in rows:
        table[names[name], 'b'] = (float(box_b), float(mask_b))
        table[names[name], 'l'] = (float(box_l), float(mask_l))
    assert table == PUBLISHED_BEST
    # MAE ViT-B per schedule, as the README's schedule column gives it.
    assert ('100 ep (25: 48.1 / 43.2, 50: 50.1 / 44.6)' in readme)
    assert {e: v for (_, _, e), v in PUBLISHED_BY_SCHEDULE.items()} == {
        25: (48.1, 43.2), 50: (50.1, 44.6), 100: PUBLISHED_BEST['mae', 'b']}


def test_duplicate_experiments_and_empty_inputs(grid, tmp_path):
    copy = write_run(tmp_path / 'again', 'mae_vitb_maskrcnn_25e',
                     [(25, 0.47, 0.41)], 25)
    runs = [read_run(grid / 'mae_vitb_maskrcnn_25e'), read_run(copy)]
    with pytest.raises(ValueError, match='two runs of mae ViT-B 25 epochs: '):
        benchmark_cells(runs)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no mmengine training run'):
        find_run_dirs([tmp_path / 'empty'])
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        find_run_dirs([tmp_path / 'missing'])
    with pytest.raises(ValueError, match='no finished benchmark run'):
        summarize_benchmark([grid / 'my_experiment'], tmp_path / 'out')


def test_seeds_are_one_cell_with_mean_std_and_n(tmp_path):
    """Made-up runs: MAE ViT-B at 25 and 50 epochs and BEiT ViT-B at 50
    epochs with three seeds, MAE frozen with two, MAE ViT-L with one."""
    aps = {'mae_vitb_maskrcnn_25e': [(0.480, 0.426), (0.482, 0.426),
                                     (0.484, 0.426)],
           'mae_vitb_maskrcnn_50e': [(0.500, 0.444), (0.501, 0.445),
                                     (0.502, 0.446)],
           'beit_vitb_maskrcnn_50e': [(0.495, 0.440), (0.497, 0.441),
                                      (0.499, 0.442)],
           'mae_vitb_frozen_maskrcnn_50e': [(0.40, 0.35), (0.41, 0.36)]}
    for name, seeds in aps.items():
        epochs = int(name.split('_')[-1][:-1])
        for seed, (box, mask) in enumerate(seeds):
            write_run(tmp_path, f'{name}_seed{seed}', [(epochs, box, mask)],
                      epochs)
    write_run(tmp_path, 'mae_vitl_maskrcnn_50e', [(50, 0.52, 0.45)], 50)
    summary = summarize_benchmark([tmp_path], tmp_path / 'out')
    assert len(summary.runs) == 12
    text = summary.files['markdown'].read_text()
    # MAE at 50 epochs is ahead of BEiT by 0.4 box AP, beyond the summed
    # stds (0.1 + 0.2); the ViT-L column has one run, nothing to mark.
    main = {line.split(' | ')[0]: line.split(' | ')[1:4]
            for line in text.split('Every schedule')[0].splitlines()
            if line.startswith('| ')}
    assert main['| beit'][0] == '49.7 ± 0.2 / 44.1 ± 0.1 (n=3) (50 ep)'
    assert main['| mae'][0] == '50.1 ± 0.1 / 44.5 ± 0.1 (n=3) (50 ep) †'
    assert main['| mae'][2] == '52.0 / 45.0 (50 ep)'
    # Std over two seeds: (0.5^2 * 2 / 1) ** 0.5 = 0.71; no paper value.
    assert main['| mae (frozen)'][:2] == [
        '40.5 ± 0.7 / 35.5 ± 0.7 (n=2) (50 ep)', '-']
    assert ('| mae | ViT-B | 48.2 ± 0.2 / 42.6 ± 0.0 (n=3) (paper 48.1 / '
            '43.2) | **50.1 ± 0.1 / 44.5 ± 0.1 (n=3)** † (paper 50.1 / '
            '44.6) |') in text
    assert text.count('†') == 4  # two cells and the two notes
    assert 'more than the sum of their standard deviations' in text

    with summary.files['csv'].open() as f:
        rows = list(csv.DictReader(f))
    assert [(r['init'], r['protocol'], r['epochs'], r['seed'], r['best'])
            for r in rows if r['size'] == 'b'] == [
        ('beit', 'full', '50', '0', '1'), ('beit', 'full', '50', '1', '1'),
        ('beit', 'full', '50', '2', '1'),
        ('mae', 'full', '25', '0', '0'), ('mae', 'full', '25', '1', '0'),
        ('mae', 'full', '25', '2', '0'), ('mae', 'full', '50', '0', '1'),
        ('mae', 'full', '50', '1', '1'), ('mae', 'full', '50', '2', '1'),
        ('mae', 'frozen', '50', '0', '1'), ('mae', 'frozen', '50', '1', '1')]
    with Image.open(summary.files['plot']) as png:
        png.load()
        assert png.size == (900, 700)

    again = write_run(tmp_path / 'again', 'mae_vitb_maskrcnn_25e_seed1',
                      [(25, 0.47, 0.41)], 25)
    with pytest.raises(ValueError, match='two runs of mae ViT-B 25 epochs '
                       'seed 1: '):
        benchmark_cells([*summary.runs, read_run(again)])
