import json

import pytest
from PIL import Image


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def test_two_result_files_side_by_side(load_tool, tmp_path, capsys):
    square = dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], area=400,
                  iscrowd=0, segmentation=[[10, 10, 30, 10, 30, 30, 10, 30]])
    ann = write(tmp_path / 'gt.json', dict(
        images=[dict(id=1, width=64, height=64, file_name='a.png')],
        categories=[dict(id=1, name='square'), dict(id=2, name='circle')],
        annotations=[dict(square, id=1)]))
    hit = dict(image_id=1, category_id=1, bbox=[10, 10, 20, 20], score=0.9)
    good = write(tmp_path / 'good.bbox.json', [hit])
    wrong_class = write(tmp_path / 'cls.bbox.json',
                        [dict(hit, category_id=2)])
    tool = load_tool('tools/analyze_errors.py')
    results = tool.main([good, wrong_class, ann,
                         '--out-dir', str(tmp_path / 'out')])
    assert [r.ap50 for r in results] == [pytest.approx(100), 0.0]
    assert results[1].delta_ap['Cls'] == pytest.approx(100)
    assert results[1].counts['Cls'] == 1
    printed = capsys.readouterr().out
    assert '| cls.bbox.json | bbox | 0.00 | 100.00 (1) |' in printed
    with Image.open(tmp_path / 'out' / 'errors.png') as png:
        png.load()
