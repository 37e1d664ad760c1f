import pytest
import torch

from mmdet_vit_transfer.models.layers.vit_geometry import (
    abs_pos_embed_grid, decomposed_rel_pos_bias, fit_abs_pos_embed,
    offset_grid_bias, relative_offset_grid, relative_table_grid,
    relative_table_size, resize_abs_pos_embed, resize_relative_table,
    window_partition, window_unpartition)


def relative_position_bias(table, table_hw, hw, num_cls_rows=3):
    return offset_grid_bias(
        relative_offset_grid(table, table_hw, hw, num_cls_rows))


@pytest.mark.parametrize('hw', [(64, 64), (13, 29), (14, 14), (1, 1)])
def test_window_partition_roundtrip(hw):
    x = torch.randn(2, *hw, 5)
    windows, padded = window_partition(x, 14)
    assert windows.shape[1:] == (14, 14, 5)
    assert padded[0] % 14 == 0 and padded[1] % 14 == 0
    assert windows.shape[0] == 2 * (padded[0] // 14) * (padded[1] // 14)
    assert torch.equal(window_unpartition(windows, 14, padded, hw), x)


def test_window_partition_groups_neighbouring_tokens():
    # Token value = its (row, col); window k of image b holds a 14x14 block.
    H, W = 28, 42
    rows, cols = torch.meshgrid(
        torch.arange(H), torch.arange(W), indexing='ij')
    x = torch.stack([rows, cols], -1)[None].float()
    windows, _ = window_partition(x, 14)
    assert windows.shape[0] == 2 * 3
    second = windows[1]  # window row 0, window col 1
    assert second[..., 0].min() == 0 and second[..., 0].max() == 13
    assert second[..., 1].min() == 14 and second[..., 1].max() == 27


def test_64_grid_pads_to_70():
    windows, padded = window_partition(torch.zeros(1, 64, 64, 3), 14)
    assert padded == (70, 70)
    assert windows.shape[0] == 25


def test_abs_pos_embed_kept_when_grid_matches_and_drops_cls():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    out = resize_abs_pos_embed(pos, (14, 14))
    assert torch.equal(out.reshape(1, -1, 8), pos[:, 1:])


def test_abs_pos_embed_resized_to_any_grid():
    pos = torch.randn(1, 1 + 14 * 14, 8)
    out = resize_abs_pos_embed(pos, (64, 40))
    assert out.shape == (1, 64, 40, 8)
    const = torch.ones(1, 1 + 14 * 14, 8)
    assert torch.allclose(resize_abs_pos_embed(const, (64, 40)),
                          torch.ones(1, 64, 40, 8), atol=1e-5)


def test_abs_pos_embed_rejects_non_square():
    with pytest.raises(ValueError, match='not a square grid'):
        resize_abs_pos_embed(torch.zeros(1, 1 + 15, 4), (4, 4))


def brute_force_bias(table, hw):
    H, W = hw
    N = H * W
    rows = []
    for i in range(N):
        for j in range(N):
            dy = i // W - j // W
            dx = i % W - j % W
            rows.append(table[(dy + H - 1) * (2 * W - 1) + dx + W - 1])
    return torch.stack(rows).T.reshape(table.shape[1], N, N)


@pytest.mark.parametrize('hw', [(3, 3), (2, 5), (4, 1), (1, 1)])
def test_relative_position_bias_matches_brute_force(hw):
    table = torch.randn(relative_table_size(hw), 4, dtype=torch.float64,
                        requires_grad=True)
    bias = relative_position_bias(table, hw, hw)
    expected = brute_force_bias(table, hw)
    assert bias.is_contiguous()
    assert torch.equal(bias, expected)
    upstream = torch.randn_like(bias)
    grad, = torch.autograd.grad(bias, table, upstream)
    expected_grad, = torch.autograd.grad(expected, table, upstream)
    torch.testing.assert_close(grad, expected_grad)
    assert not grad[-3:].any()  # the cls rows are never read


def test_relative_table_size_has_three_cls_rows():
    assert relative_table_size((14, 14)) == 27 * 27 + 3
    assert relative_table_size((64, 64)) == 127 * 127 + 3
    assert relative_table_grid(27 * 27 + 3) == (14, 14)


def test_hivit_tables_have_no_cls_rows():
    assert relative_table_size((14, 14), num_cls_rows=0) == 27 * 27
    assert relative_table_size((3, 5), num_cls_rows=0) == 5 * 9
    assert relative_table_grid(729, num_cls_rows=0) == (14, 14)
    with pytest.raises(ValueError, match='732 rows fits no square grid'):
        relative_table_grid(732, num_cls_rows=0)


def test_relative_table_resize_keeps_cls_rows_and_constants():
    table = torch.full((relative_table_size((4, 4)), 2), 0.5)
    table[-3:] = torch.tensor([[1., 2.], [3., 4.], [5., 6.]])
    out = resize_relative_table(table, (4, 4), (7, 9))
    assert out.shape == (relative_table_size((7, 9)), 2)
    assert torch.equal(out[-3:], table[-3:])
    assert torch.allclose(out[:-3], torch.full_like(out[:-3], 0.5))


def test_relative_table_wrong_size_is_named():
    with pytest.raises(ValueError, match='has 52 rows, got 10'):
        resize_relative_table(torch.zeros(10, 2), (4, 4), (5, 5))


def test_decomposed_rel_pos_matches_brute_force():
    H, W, C = 3, 4, 6
    q = torch.randn(2, 3, H * W, C)
    rel_h = torch.randn(2 * H - 1, C)
    rel_w = torch.randn(2 * W - 1, C)
    bias = decomposed_rel_pos_bias(q, rel_h, rel_w, (H, W))
    expected = torch.empty(2, 3, H * W, H * W)
    for i in range(H * W):
        for j in range(H * W):
            qi = q[:, :, i]
            rh = rel_h[i // W - j // W + H - 1]
            rw = rel_w[i % W - j % W + W - 1]
            expected[:, :, i, j] = qi @ rh + qi @ rw
    assert torch.allclose(bias, expected, atol=1e-5)


@pytest.mark.parametrize('layout, shape, slots', [
    ('timm, cls slot', (1, 1 + 16, 8), 1),
    ('DeiT III, no slot', (1, 16, 8), 0),
    ('distilled DeiT, 2 slots', (1, 2 + 16, 8), 2),
    ('CLIP, 2-d', (1 + 16, 8), 1),
    ('SAM, a map', (1, 4, 4, 8), 0),
])
def test_abs_pos_embed_grid_of_every_published_layout(layout, shape, slots):
    pos = torch.randn(shape)
    grid, extra = abs_pos_embed_grid(pos)
    assert grid.shape == (1, 4, 4, 8) and extra.shape == (1, slots, 8)
    flat = pos.reshape(1, -1, 8)
    assert torch.equal(grid.reshape(1, 16, 8), flat[:, slots:])


def test_fit_abs_pos_embed_keeps_the_first_slot_and_resizes_the_grid():
    pos = torch.randn(1, 1 + 16, 8)
    fitted = fit_abs_pos_embed(pos, (1, 1 + 36, 8))
    assert torch.equal(fitted[:, :1], pos[:, :1])
    torch.testing.assert_close(
        fitted[:, 1:].reshape(1, 6, 6, 8),
        resize_abs_pos_embed(pos, (6, 6)))
    assert fit_abs_pos_embed(torch.randn(1, 4, 4, 8),
                             (1, 17, 8))[:, 0].abs().sum() == 0
    with pytest.raises(ValueError, match='not a square grid'):
        abs_pos_embed_grid(torch.randn(1, 15, 8))
    with pytest.raises(ValueError, match='does not fit a model'):
        fit_abs_pos_embed(torch.randn(1, 4, 4, 8), (1, 17, 16))
