"""The paper's experiment grid: one config per init, size and schedule
length, each carrying the hyper-parameters of the paper's table
(docs/paper_facts.md) and a documented checkpoint with the paper's position
options."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
from timm.layers import LayerScale

import mmdet_vit_transfer  # noqa: F401  (registers PlainViTPyramid)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
DOCS = Path(__file__).resolve().parents[2] / 'docs/checkpoints.md'

# init: (lr, weight decay, drop path ViT-B, drop path ViT-L, epochs)
PAPER_TABLE = {
    'random': (1.6e-4, 0.2, 0.1, 0.3, (100, 200, 400)),
    'supervised': (8e-5, 0.1, 0.1, 0.3, (25, 50, 100)),
    'mocov3': (1.6e-4, 0.1, 0.1, 0.3, (25, 50, 100)),
    'beit': (8e-5, 0.1, 0.1, 0.3, (25, 50, 100)),
    'mae': (8e-5, 0.1, 0.1, 0.3, (25, 50, 100)),
}
ARCH = {'b': ('base', 768, 12), 'l': ('large', 1024, 24)}
GRID = [(init, size, epochs) for init, row in PAPER_TABLE.items()
        for size in ARCH for epochs in row[4]]


def config_name(init, size, epochs):
    return f'{init}_vit{size}_maskrcnn_{epochs}e.py'


def test_grid_is_complete_and_nothing_else():
    found = {p.name for p in CONFIGS.glob('*_vit[bl]_maskrcnn_*e.py')}
    assert found == {config_name(*cell) for cell in GRID}


@pytest.mark.parametrize('init,size,epochs', GRID,
                         ids=[config_name(*cell)[:-3] for cell in GRID])
def test_grid_config(init, size, epochs):
    cfg = Config.fromfile(CONFIGS / config_name(init, size, epochs))
    lr, wd, dp_b, dp_l, _ = PAPER_TABLE[init]
    backbone = cfg.model.backbone
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.weight_decay == wd
    assert backbone.drop_path_rate == (dp_b if size == 'b' else dp_l)
    assert backbone.arch == ARCH[size][0]
    beit = init == 'beit'
    assert backbone.get('qkv_bias', 'qkv') == ('qv' if beit else 'qkv')
    assert backbone.get('layer_scale_init_value', 0) == (0.1 if beit else 0)
    init_cfg = backbone.get('init_cfg')
    if init == 'random':
        assert init_cfg is None
    else:
        assert init_cfg.type == 'Pretrained'
        assert init_cfg.checkpoint.startswith('checkpoints/')
        # Every checkpoint file is documented.
        assert Path(init_cfg.checkpoint).name in DOCS.read_text()
        assert (init_cfg.abs_pos_init, init_cfg.rel_pos_init) == (
            ('random', 'pretrained') if beit else ('pretrained', 'zero'))

    init_default_scope('mmdet')
    with torch.device('meta'):
        model = MODELS.build(backbone)
    assert (model.embed_dims, model.depth) == ARCH[size][1:]
    assert (model.blocks[0].attn.q_bias is not None) == beit
    assert isinstance(model.blocks[0].ls1, LayerScale) == beit
    drop_probs = [getattr(b.drop_path, 'drop_prob', 0.0)
                  for b in model.blocks]
    assert drop_probs[0] == 0 and drop_probs[-1] == pytest.approx(
        backbone.drop_path_rate)
