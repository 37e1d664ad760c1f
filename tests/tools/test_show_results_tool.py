import json
import shutil

import pytest
from PIL import Image

from mmdet_vit_transfer.utils import plot_training_curves, training_curves


def write_scalars(work_dir):
    rows = [dict(loss=3.0, lr=1e-4, step=10), dict(loss=2.0, lr=1e-4, step=20),
            {'coco/bbox_mAP': 0.25, 'coco/segm_mAP': 0.3, 'step': 1},
            dict(loss=1.5, lr=1e-4, step=30),
            {'coco/bbox_mAP': 0.5, 'coco/segm_mAP': 0.55, 'step': 2}]
    scalars = work_dir / '20260101_000000' / 'vis_data' / 'scalars.json'
    scalars.parent.mkdir(parents=True)
    scalars.write_text('\n'.join(map(json.dumps, rows)) + '\n')


def test_curves_place_evaluations_at_their_last_iteration(tmp_path):
    write_scalars(tmp_path)
    curves = training_curves(tmp_path)
    assert curves['step'] == [10, 20, 30]
    assert curves['loss'] == [3.0, 2.0, 1.5]
    assert curves['eval_step'] == [20, 30]
    assert curves['bbox'] == [0.25, 0.5]
    assert curves['segm'] == [0.3, 0.55]
    path = plot_training_curves(tmp_path, tmp_path / 'curves.png')
    with Image.open(path) as image:
        assert image.size[0] > 100


def test_curves_need_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='no mmengine run'):
        training_curves(tmp_path)


@pytest.mark.slow
def test_table_plot_and_drawn_predictions(load_tool, toy_benchmark_dir,
                                          tmp_path, capsys):
    run = tmp_path / 'run'
    shutil.copytree(
        toy_benchmark_dir / 'work_dirs' / 'random_vittiny_maskrcnn_2e', run)
    load_tool('tools/show_results.py').main([str(run), '--images', '2'])
    out = capsys.readouterr().out
    assert '| bbox |' in out and '| segm |' in out
    assert str(run / 'curves.png') in out
    assert (run / 'curves.png').is_file()
    drawn = sorted((run / 'predictions' / 'vis').iterdir())
    assert [p.name for p in drawn] == ['000001.png', '000002.png']
    assert str(run / 'predictions' / 'vis') in out
