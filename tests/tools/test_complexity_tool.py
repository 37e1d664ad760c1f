import json

import pytest

from mmdet_vit_transfer.analysis.complexity import build_detector, load_config

REPO_CONFIG = 'configs/toy_vit_tiny_maskrcnn.py'


def toy_backbone_flops(size=256, dims=192, depth=8, window=8, patch=16):
    """Multiply-adds of the toy backbone by hand: patch projection, the
    linear layers (qkv 3C^2, proj C^2, MLP 8C^2 per token), the attention
    products (2 N^2 C per global block, per window for windowed ones, four
    of each) and the layer norms (5 per element, two per block)."""
    tokens = (size // patch)**2
    window_tokens = window * window
    windows = tokens // window_tokens
    return (tokens * dims * 3 * patch * patch + depth * 12 * tokens * dims**2 +
            4 * 2 * tokens**2 * dims +
            4 * windows * 2 * window_tokens**2 * dims +
            depth * 2 * 5 * tokens * dims)


@pytest.mark.slow
def test_toy_detector_complexity(load_tool, tmp_path, capsys):
    tool = load_tool('tools/complexity.py')
    out = tmp_path / 'complexity.json'
    result = tool.main([REPO_CONFIG, '--repeats', '1', '--json', str(out)])
    saved = json.loads(out.read_text())
    assert saved['input_hw'] == [256, 256]
    assert saved['flops']['backbone'] == toy_backbone_flops()
    model = build_detector(load_config(REPO_CONFIG))
    assert saved['params']['total'] == sum(p.numel()
                                           for p in model.parameters())
    assert saved['params']['backbone'] == sum(
        p.numel() for p in model.backbone.parameters())
    parts = ('backbone', 'neck', 'rpn_head', 'roi_head')
    assert sum(saved['flops'][p] for p in parts) <= saved['flops']['total']
    assert saved['seconds_per_image'] > 0
    assert 'prim::PythonOp.NMSop' in saved['unsupported_ops']
    printed = capsys.readouterr().out
    assert '| backbone | 3.76 | 1.07 |' in printed
    assert 'images/s' in printed
    assert result.flops == saved['flops']
