import math

import pytest
from PIL import Image

from mmdet_vit_transfer.analysis.attention_cost import (
    AttentionCost, costs_table, growth_exponent, layout_kwargs,
    measure_attention_costs, measure_layout, plot_costs)
from mmdet_vit_transfer.models.backbones import PlainViTPyramid

TINY = dict(embed_dims=32, depth=4, num_heads=2)


@pytest.mark.parametrize('layout, windowed, checkpointing', [
    ('all windowed', [True] * 8, False),
    ('4 global', [True, False] * 4, False),
    ('all global + checkpointing', [False] * 8, True),
    ('all global', [False] * 8, False),
])
def test_layouts(layout, windowed, checkpointing):
    kwargs = {**dict(window_size=4), **layout_kwargs(layout, depth=8)}
    model = PlainViTPyramid(arch=dict(embed_dims=32, depth=8, num_heads=2),
                            img_size=128, **kwargs)
    assert [b.window_size > 0 for b in model.blocks] == windowed
    assert model.with_cp is checkpointing
    assert model.out_indices == [1, 3, 5, 7]


def test_unknown_layout_and_bad_sizes_are_named():
    with pytest.raises(ValueError, match="unknown layout 'half global'"):
        layout_kwargs('half global', 12)
    with pytest.raises(ValueError, match=r'multiples of 16, got \[100\]'):
        measure_attention_costs(TINY, [100])
    with pytest.raises(ValueError, match="mode must be one of"):
        measure_attention_costs(TINY, [64], modes=['eval'])


def fake(layout, tokens, value):
    return AttentionCost(layout=layout, mode='train', size=16 * int(
        math.sqrt(tokens)), tokens=tokens, seconds=value, peak_gb=1.0 + value,
                         activation_gb=value)


def test_growth_exponent_reads_the_slope_of_the_two_largest_sizes():
    costs = [fake('all windowed', n, 0.01 * n) for n in (16, 64, 256)]
    costs += [fake('all global', n, 1e-4 * n * n) for n in (16, 64, 256)]
    assert growth_exponent(costs, 'all windowed', 'train') == pytest.approx(1)
    assert growth_exponent(costs, 'all global', 'train') == pytest.approx(2)
    assert math.isnan(growth_exponent(costs[:1], 'all windowed', 'train'))
    table = costs_table(costs)
    assert '| all windowed | train | 0.160 / 0.160 / 1.16 | 0.640 / 0.640 / ' \
           '1.64 | 2.560 / 2.560 / 3.56 | 1.00, 1.00 |' in table
    assert table.splitlines()[2].startswith(
        '| layout | mode | 64px (16 tok) | 128px (64 tok) | 256px (256 tok)')


def test_measure_in_this_process_and_plot(tmp_path):
    rows = measure_layout(TINY, 'all global', 'train', [64, 32], repeats=1)
    assert [(r['size'], r['tokens']) for r in rows] == [(32, 4), (64, 16)]
    for row in rows:
        assert row['seconds'] > 0 and row['peak_gb'] > 0
        assert 0 <= row['activation_gb'] <= row['peak_gb']
    costs = [AttentionCost(**r) for r in rows]
    with Image.open(plot_costs(costs, tmp_path / 'a.png', 'tiny')) as png:
        png.load()
        assert png.size == (1000, 400)
