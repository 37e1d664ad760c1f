import csv

import pytest
from PIL import Image

from mmdet_vit_transfer.utils import last_coco_metrics


@pytest.mark.slow
def test_table_of_real_toy_runs(load_tool, toy_benchmark_dir, tmp_path,
                                capsys):
    tool = load_tool('tools/summarize_benchmark.py')
    # The pre-training runs are not benchmark runs: named and left out.
    summary = tool.main([str(toy_benchmark_dir / 'work_dirs'),
                         '--out-dir', str(tmp_path)])
    printed = capsys.readouterr().out
    assert sorted(p.name for p, _ in summary.skipped) == [
        'direct_stage1', 'mae_pretrain'
    ]
    assert 'left out' in printed and '| initialisation | ViT-Tiny |' in printed
    with open(tmp_path / 'benchmark.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for row in rows:
        metrics = last_coco_metrics(row['work_dir'])
        assert float(row['box_ap']) == pytest.approx(
            100 * metrics['coco/bbox_mAP'], abs=0.005)
        assert float(row['mask_ap']) == pytest.approx(
            100 * metrics['coco/segm_mAP'], abs=0.005)
    with Image.open(tmp_path / 'convergence.png') as png:
        png.load()
        assert png.size == (450, 700)
