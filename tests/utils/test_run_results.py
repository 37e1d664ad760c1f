import json

import pytest

from mmdet_vit_transfer.utils import coco_metrics_table, last_coco_metrics

METRICS = {
    f'coco/{task}_{m}': value
    for task, value in (('bbox', 0.5), ('segm', 0.25))
    for m in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
}


def write_run(work_dir, name, rows):
    path = work_dir / name / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_last_evaluation_of_newest_run(tmp_path):
    write_run(tmp_path, '20260101_000000', [dict(METRICS, step=1)])
    write_run(tmp_path, '20260102_000000', [
        dict(loss=1.0, step=5),
        dict(METRICS, step=1),
        dict(METRICS, step=2, **{'coco/bbox_mAP': 0.75}),
    ])
    metrics = last_coco_metrics(tmp_path)
    assert metrics['step'] == 2 and metrics['coco/bbox_mAP'] == 0.75
    table = coco_metrics_table(metrics)
    assert table.splitlines()[2] == \
        '| bbox | 0.750 | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 |'
    assert table.splitlines()[3].startswith('| segm | 0.250 |')


def test_missing_runs_and_evaluations_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='no mmengine run'):
        last_coco_metrics(tmp_path)
    write_run(tmp_path, 'run', [dict(loss=1.0)])
    with pytest.raises(FileNotFoundError, match='holds no COCO evaluation'):
        last_coco_metrics(tmp_path)
