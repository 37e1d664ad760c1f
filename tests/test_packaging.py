"""The installed package carries its configs and tools, as mmdet does under
.mim, and installs as an extension: mmcv is not a pip dependency."""
import email
import sys
import zipfile
from pathlib import Path

import pytest
from mmengine.config import Config
from subprocess_runs import run

REPO = Path(__file__).parents[1]


@pytest.mark.slow
def test_wheel_carries_configs_that_inherit(tmp_path):
    built = run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w',
        str(tmp_path), str(REPO)
    ], timeout=600)
    assert built.returncode == 0, built.output[-3000:]
    wheel, = tmp_path.glob('mmdet_vit_transfer-*.whl')
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / 'site')
        metadata, = (n for n in names if n.endswith('.dist-info/METADATA'))
        metadata = email.message_from_bytes(zf.read(metadata))
    # mmcv only through the `mim` extra; floors that the code needs.
    requires = metadata.get_all('Requires-Dist')
    assert [r for r in requires if r.startswith('mmcv')] == [
        'mmcv<2.2.0,>=2.0.0rc4; extra == "mim"']
    assert 'torch>=2.6' in requires
    assert metadata['Requires-Python'] == '>=3.10'
    assert metadata['License-Expression'] == 'Apache-2.0' or \
        metadata['License'] == 'Apache-2.0'
    assert any(n.endswith('.dist-info/licenses/LICENSE') or
               n.endswith('.dist-info/LICENSE') for n in names)
    # What `mim train mmdet_vit_transfer` and `mim run` look for.
    for tool in ('train.py', 'test.py', 'dist_train.sh', 'infer.py',
                 'convert_checkpoint.py'):
        assert f'mmdet_vit_transfer/.mim/tools/{tool}' in names, tool
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


def test_without_mmcv_the_import_says_how_to_get_it():
    hidden = run([sys.executable, '-c',
                  "import sys; sys.modules['mmcv'] = None; "
                  'import mmdet_vit_transfer'], timeout=120, cwd=REPO)
    assert hidden.returncode == 1
    assert f'`make install PYTHON={sys.executable}` builds' \
        in hidden.last_line
