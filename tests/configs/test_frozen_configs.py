"""The frozen-backbone protocol's configs (MAE and DINOv2 ViT-B): each its
full fine-tuning config with ``frozen_stages='all'`` and nothing else; the
optimizer then holds the adapters, FPN and heads, and counts the whole
backbone frozen."""
import ast
from pathlib import Path

import pytest
from mmengine.config import Config

from mmdet_vit_transfer.engine.optimizers.lr_groups import config_lr_groups

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
#: frozen config: the full fine-tuning config it inherits.
PROTOCOL = {
    'mae_vitb_frozen_maskrcnn_100e.py': 'mae_vitb_maskrcnn_100e.py',
    'dinov2_vitb_frozen_maskrcnn_100e.py':
    'dinov2/dinov2_vitb_maskrcnn_100e.py',
}
#: The ViT-B backbone's parameters: patch embedding (590,592), position
#: embedding at 224 px (197 x 768), 12 blocks of 7,087,872, the windowed and
#: global relative tables ((27^2 + 3) and (127^2 + 3) rows x 12 heads).
VIT_B_PARAMETERS = 590_592 + 197 * 768 + 12 * 7_087_872 + 732 * 12 + \
    16_132 * 12


def test_the_frozen_configs_and_nothing_else():
    assert {p.name for p in (CONFIGS / 'frozen').glob('*.py')} == \
        set(PROTOCOL)


@pytest.mark.parametrize('name', sorted(PROTOCOL))
def test_a_frozen_config_states_only_the_protocol(name):
    bases, model = ast.parse((CONFIGS / 'frozen' / name).read_text()).body
    assert ast.literal_eval(bases.value) == f'../{PROTOCOL[name]}'
    assert ast.unparse(model) == \
        "model = dict(backbone=dict(frozen_stages='all'))"


def test_the_optimizer_of_the_frozen_protocol():
    cfg = Config.fromfile(CONFIGS / 'frozen' /
                          'mae_vitb_frozen_maskrcnn_100e.py')
    rows = config_lr_groups(cfg)
    frozen = rows[-1]
    assert frozen.group == 'frozen'
    assert all(n.startswith('backbone.') for n in frozen.names)
    assert frozen.num_elements == VIT_B_PARAMETERS
    assert not any(n.startswith('backbone.') for row in rows[:-1]
                   for n in row.names)
    assert {row.lr for row in rows[:-1]} == {cfg.optim_wrapper.optimizer.lr}
