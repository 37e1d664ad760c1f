"""The installed package carries its configs, as mmdet does under .mim."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).parents[1]


@pytest.mark.slow
def test_wheel_carries_configs_that_inherit(tmp_path):
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(tmp_path), str(REPO)
    ], check=True, capture_output=True)
    wheel, = tmp_path.glob('mmdet_vit_transfer-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / 'site')
    prefix = 'mmdet_vit_transfer/.mim/configs/'
    for config in ('mae_vitb_maskrcnn_100e.py', 'toy_vit_tiny_maskrcnn.py',
                   '_base_/models/mask_rcnn_plain_vit_b.py',
                   '_base_/datasets/coco_instance_lsj_1024.py',
                   '_base_/schedules/lsj_adamw_cosine.py'):
        assert prefix + config in names, config
    # A user's config outside any clone inherits an installed one by path.
    installed = tmp_path / 'site' / prefix / 'mae_vitb_maskrcnn_100e.py'
    user = tmp_path / 'my_config.py'
    user.write_text(f"_base_ = '{installed}'\n"
                    'train_cfg = dict(max_epochs=7)\n')
    cfg = Config.fromfile(user)
    assert cfg.model.backbone.type == 'PlainViTPyramid'
    assert cfg.train_cfg.max_epochs == 7
