"""tools/print_lr_groups.py: the optimizer's groups of a config, without
training. ViT-B at layer decay 0.7 gets detectron2's ViTDet multipliers."""
import pytest

CONFIG = 'configs/mae_vitb_maskrcnn_100e.py'
LR = 8e-5


def get_vit_lr_decay_rate(name, lr_decay_rate=1.0, num_layers=12):
    """detectron2's rule (``detectron2/modeling/backbone/vit.py``, which
    projects/ViTDet's configs use), written out: layer 0 the embeddings,
    ``i + 1`` block ``i``, ``num_layers + 1`` the rest; it reads this
    package's parameter names as detectron2's (``backbone.blocks.3.attn...``
    for ``backbone.net.blocks.3.attn...``)."""
    layer_id = num_layers + 1
    if name.startswith('backbone'):
        if '.pos_embed' in name or '.patch_embed' in name:
            layer_id = 0
        elif '.blocks.' in name and '.residual.' not in name:
            layer_id = int(name[name.find('.blocks.'):].split('.')[2]) + 1
    return lr_decay_rate**(num_layers + 1 - layer_id)


def test_vitb_at_layer_decay_07_gets_detectron2s_multipliers(
        load_tool, capsys):
    tool = load_tool('tools/print_lr_groups.py')
    rows = tool.main([
        CONFIG, '--cfg-options',
        'optim_wrapper.paramwise_cfg.layer_decay_rate=0.7'
    ])
    printed = capsys.readouterr().out
    # A decayed and an exempt group per layer: the embeddings, 12 blocks,
    # the rest; nothing frozen.
    assert [row.layer_ids for row in rows] == [
        (layer, ) for layer in range(13, -1, -1) for _ in range(2)]
    assert [row.weight_decay for row in rows] == [0.1, 0.0] * 14
    for row in rows:
        for name in row.names:
            assert row.lr_mult == pytest.approx(
                get_vit_lr_decay_rate(name, 0.7, 12)), name
        assert row.lr == pytest.approx(LR * row.lr_mult)
        assert (f'| {row.group} | {row.layer_ids[0]} | {row.lr_mult:.4g} '
                f'| {row.lr:.4g} | {row.weight_decay:.4g} | {len(row.names)} '
                f'| {row.num_elements:,} | {row.names[0]}') in printed
    assert rows[-1].lr_mult == pytest.approx(0.7**13)
    assert printed.rstrip().endswith('frozen: 0')
