"""The families' configs (configs/<family>/): each builds its family's
architecture in ViTDet's layout at 1024, points at a documented published
file, and states only what differs from the paper's configs."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS

import mmdet_vit_transfer  # noqa: F401  (registers PlainViTPyramid)
from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / 'docs' / 'checkpoints.md'
#: family folder: (preset per size, layer scale)
FAMILIES = {
    'dinov2': ({'b': 'dinov2-b14', 'l': 'dinov2-l14', 'g': 'dinov2-g14'},
               True),
    'dinov2_reg': ({'b': 'dinov2-reg4-b14', 'l': 'dinov2-reg4-l14'}, True),
    'deit3': ({'b': 'deit3-b16', 'l': 'deit3-l16'}, True),
    'beitv2': ({'b': 'beitv2-b16', 'l': 'beitv2-l16'}, True),
    'clip': ({'b': 'clip-b16', 'l': 'clip-l14'}, False),
    'siglip': ({'b': 'siglip-b16', 'l': 'siglip-l16'}, False),
    'sam': ({'b': 'sam-b16', 'l': 'sam-l16', 'h': 'sam-h16'}, False),
    'eva02': ({'b': 'eva02-b14', 'l': 'eva02-l14'}, False),
    'dinov3': ({'b': 'dinov3-b16', 'l': 'dinov3-l16'}, True),
}
DROP_PATH = {'b': 0.1, 'l': 0.3, 'h': 0.5, 'g': 0.4}
#: The EVA-02 authors' optimiser (their Cascade configs): lr at its batch,
#: layer decay, drop path.
EVA02 = {'b': (5e-5, 128, 0.7, 0.1), 'l': (6e-5, 144, 0.8, 0.4)}
CASES = [(family, size) for family, (presets, _) in FAMILIES.items()
         for size in presets]


def configs(family, size):
    return sorted((ROOT / 'configs' / family).glob(f'*_vit{size}_*.py'))


@pytest.mark.parametrize('family, size', CASES)
def test_family_config(family, size):
    presets, layer_scale = FAMILIES[family]
    files = configs(family, size)
    assert [f.name.rsplit('_', 1)[1] for f in files] == [
        '100e.py', '25e.py', '50e.py']
    cfg = Config.fromfile(files[0])
    backbone = cfg.model.backbone
    assert backbone.arch == presets[size]
    lr, batch, layer_decay, drop_path = (
        EVA02[size] if family == 'eva02' else
        (8e-5, 64, 1.0, DROP_PATH[size]))
    assert backbone.drop_path_rate == drop_path
    assert (cfg.optim_wrapper.optimizer.lr,
            cfg.optim_wrapper.optimizer.weight_decay) == (lr, 0.1)
    assert cfg.auto_scale_lr.base_batch_size == batch
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == layer_decay
    # Layer scales get no weight decay, as the families' own fine-tuning.
    custom = cfg.optim_wrapper.paramwise_cfg.get('custom_keys', {})
    assert ('.gamma' in custom) == layer_scale
    init_cfg = backbone.init_cfg
    assert Path(init_cfg.checkpoint).name in DOCS.read_text()
    # EVA-02's detection files are already patch 16 (``p14to16``).
    patch14 = (ARCH_ZOO[presets[size]].get('patch_size') == 14
               and family != 'eva02')
    assert init_cfg.get('resample_patch_embed', False) == patch14

    init_default_scope('mmdet')
    with torch.device('meta'):
        model = MODELS.build(backbone)
        outs = model(torch.empty(1, 3, 1024, 1024))
    # ViTDet's layout: a 64x64 grid, windows of 14, four global blocks.
    assert model.patch_size == 16 and model.grid_hw == (64, 64)
    assert {b.window_size for b in model.blocks} == {0, 14}
    assert [tuple(o.shape[2:]) for o in outs] == [(64, 64)] * 4
    if model.pos_embed is not None and patch14:
        # The pre-training grid is kept (resized to 64x64 on the fly).
        side = 37 if 'dinov2' in family else 16
        assert model.pos_embed.shape[1] == 1 + side**2
    assert (model.rope is not None) == (family in ('eva02', 'dinov3'))
    for short in files[1:]:
        # A schedule variant: the 100-epoch file with another max_epochs.
        epochs = int(short.stem.rsplit('_', 1)[1][:-1])
        text = short.read_text()
        assert f"_base_ = './{files[0].name}'" in text
        assert f'train_cfg = dict(max_epochs={epochs})' in text
