"""The fused CPU attention backend with a learnable bias against PyTorch's
own (unfused) path: same outputs and gradients, including the bias's; and
its row copies against the geometry module's bias."""
import pytest
import torch
import torch.nn.functional as F

from mmdet_vit_transfer.models.layers.cpu_fused_attention import (
    CPUFusedKernel, OffsetGridBias, add_bias_rows_grad, offset_grid_grad,
    offset_grid_windows, whole_grid_bias, windows_bias_rows)
from mmdet_vit_transfer.models.layers.vit_geometry import (
    offset_grid_bias, relative_offset_grid, relative_table_size)

attention = CPUFusedKernel()


def offset_grid_bias_rows(grid, rows, out=None):
    return windows_bias_rows(offset_grid_windows(grid), rows, out)


@pytest.mark.parametrize('shapes', [
    ((2, 3, 50, 16), (1, 3, 50, 50)),   # one bias shared by all windows
    ((2, 3, 50, 16), (2, 3, 50, 50)),   # per-image bias (decomposed)
    ((1, 2, 37, 8), (1, 1, 37, 37)),    # one bias for all heads
    ((1, 3, 50, 16), (1, 3, 50, 50)),   # global attention of one image
])
@pytest.mark.parametrize('block_elements', [3000, 2**24])
def test_matches_unfused_attention(shapes, block_elements):
    attention = CPUFusedKernel(block_elements=block_elements)
    qkv_shape, bias_shape = shapes
    q, k, v = (torch.randn(qkv_shape, requires_grad=True) for _ in range(3))
    bias = torch.randn(bias_shape, requires_grad=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    got = attention(q, k, v, bias)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    for g, e in zip(torch.autograd.grad(got, (q, k, v, bias), upstream),
                    torch.autograd.grad(expected, (q, k, v, bias), upstream)):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_fused_kernel_is_used_and_probabilities_are_not_stored():
    q, k, v = (torch.randn(1, 2, 64, 8, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 2, 64, 64, requires_grad=True)
    with torch.profiler.profile() as prof:
        attention(q, k, v, bias).sum().backward()
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::_scaled_dot_product_flash_attention_for_cpu' in ops
    assert 'aten::_scaled_dot_product_attention_math' not in ops


def test_bfloat16():
    q, k, v = (torch.randn(1, 2, 40, 16, requires_grad=True)
               for _ in range(3))
    bias = torch.randn(1, 2, 40, 40, requires_grad=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    expected.sum().backward()
    want = [t.grad.clone() for t in (q, k, v, bias)]
    for t in (q, k, v, bias):
        t.grad = None
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(),
                               bias.bfloat16())
    got.float().sum().backward()
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.05)
    for g, w in zip((q.grad, k.grad, v.grad, bias.grad), want):
        torch.testing.assert_close(g, w, rtol=0.1, atol=0.1)


@pytest.mark.parametrize('native', [True, False])
def test_bfloat16_queries_with_a_float32_bias(native):
    # The backbone's shared tables give float32 biases under bf16 autocast:
    # taken as they are, their gradient stays float32. With native bf16
    # the backward pass's products with P and dS run in bf16.
    attention = CPUFusedKernel(native_bfloat16=native)
    q, k, v = (torch.randn(1, 2, 40, 16, requires_grad=True)
               for _ in range(3))
    bias = torch.randn(1, 2, 40, 40, requires_grad=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    upstream = torch.randn_like(expected)
    want = torch.autograd.grad(expected, (q, k, v, bias), upstream)
    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    got = attention(*low, bias)
    assert got.dtype == torch.bfloat16
    grads = torch.autograd.grad(got, (*low, bias), upstream.bfloat16())
    assert grads[3].dtype == torch.float32
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.05)
    for g, w in zip(grads, want):
        torch.testing.assert_close(g.float(), w, rtol=0.1, atol=0.1)


def grid_and_whole(heads, hw, requires_grad=True):
    """An offset grid and the whole ``(1, heads, N, N)`` bias it stands
    for, made by the differentiable reference."""
    H, W = hw
    grid = torch.randn(heads, 2 * H - 1, 2 * W - 1,
                       requires_grad=requires_grad)
    return grid, offset_grid_bias(grid).unsqueeze(0)


@pytest.mark.parametrize('batch, hw', [(1, (5, 7)), (2, (4, 4)), (1, (1, 3))])
@pytest.mark.parametrize('block_elements', [1, 2 * 3 * 7 * 35, 2**24])
def test_offset_grid_bias_matches_the_whole_bias(batch, hw, block_elements):
    # Forward calls of one grid row of queries, of two or three, or of all
    # rows; backward blocks of one head, of the heads of one image, or all.
    attention = CPUFusedKernel(block_elements=block_elements,
                                  min_queries_per_call=1)
    n = hw[0] * hw[1]
    q, k, v = (torch.randn(batch, 3, n, 16, requires_grad=True)
               for _ in range(3))
    grid, whole = grid_and_whole(3, hw)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=whole)
    got = attention(q, k, v, OffsetGridBias(grid))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    for g, e in zip(torch.autograd.grad(got, (q, k, v, grid), upstream),
                    torch.autograd.grad(expected, (q, k, v, grid), upstream)):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(
            attention(q, k, v, OffsetGridBias(grid)), expected,
            rtol=1e-5, atol=1e-5)


def test_offset_grid_bias_is_never_made_whole():
    q, k, v = (torch.randn(1, 2, 20, 8, requires_grad=True) for _ in range(3))
    grid, _ = grid_and_whole(2, (4, 5))
    with torch.profiler.profile() as prof:
        out = attention(q, k, v, OffsetGridBias(grid))
        out.sum().backward()
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::_scaled_dot_product_attention_math' not in ops
    # Neither index nor row copy of the whole bias in the graph.
    assert '_OffsetGridToBias' not in ops and 'aten::index' not in ops
    assert grid.grad.shape == grid.shape


def test_other_devices_and_dtypes_are_refused():
    q, k, v = (torch.randn(1, 2, 12, 8, dtype=torch.float64)
               for _ in range(3))
    with pytest.raises(ValueError, match="use 'sdpa'"):
        attention(q, k, v, None)


@pytest.mark.parametrize('native', [True, False])
def test_offset_grid_bias_with_a_frozen_grid_and_bfloat16_queries(native):
    attention = CPUFusedKernel(native_bfloat16=native)
    q, k, v = (torch.randn(1, 2, 20, 16, requires_grad=True)
               for _ in range(3))
    grid, whole = grid_and_whole(2, (4, 5), requires_grad=False)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=whole)
    upstream = torch.randn_like(expected)
    want = torch.autograd.grad(expected, (q, k, v), upstream)
    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    got = attention(*low, OffsetGridBias(grid))
    assert got.dtype == torch.bfloat16
    grads = torch.autograd.grad(got, low, upstream.bfloat16())
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.05)
    for g, w in zip(grads, want):
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g.float(), w, rtol=0.1, atol=0.1)


def test_table_bias_is_whole_only_when_small():
    grid, whole = grid_and_whole(2, (3, 4))
    assert torch.equal(attention.table_bias(grid), whole)
    small_blocks = CPUFusedKernel(block_elements=2 * 12 * 12 - 1)
    bias = small_blocks.table_bias(grid)
    assert isinstance(bias, OffsetGridBias) and bias.hw == (3, 4)
    # A grid of another dtype than float32 comes whole.
    assert torch.equal(small_blocks.table_bias(grid.double()),
                       whole.double())


def test_offset_grid_bias_refuses_bad_grids_and_lengths():
    with pytest.raises(ValueError, match=r'\(heads, 2H - 1, 2W - 1\)'):
        OffsetGridBias(torch.zeros(2, 4, 5))
    q, k, v = (torch.randn(1, 2, 10, 8) for _ in range(3))
    with pytest.raises(ValueError, match='12 tokens, the queries have 10'):
        attention(q, k, v, OffsetGridBias(torch.zeros(2, 5, 7)))


@pytest.mark.parametrize('hw', [(3, 3), (2, 5), (4, 1), (1, 1)])
def test_whole_grid_bias_is_the_geometry_modules(hw):
    grid = torch.randn(3, 2 * hw[0] - 1, 2 * hw[1] - 1, dtype=torch.float64,
                       requires_grad=True)
    got, want = whole_grid_bias(grid), offset_grid_bias(grid)
    assert got.is_contiguous()
    assert torch.equal(got, want)
    upstream = torch.randn_like(got)
    torch.testing.assert_close(
        torch.autograd.grad(got, grid, upstream)[0],
        torch.autograd.grad(want, grid, upstream)[0])


@pytest.mark.parametrize('hw', [(5, 3), (1, 4)])
def test_bias_rows_are_the_rows_of_the_whole_bias(hw):
    H, W = hw
    table = torch.randn(relative_table_size(hw), 3, dtype=torch.float64)
    grid = relative_offset_grid(table, hw, hw)
    whole = offset_grid_bias(grid)
    buffer = torch.full((2 * whole.numel(), ), float('nan'),
                        dtype=whole.dtype)
    for y0, y1 in [(0, H), (0, 1), (H - 1, H), (H // 2, H)]:
        rows = offset_grid_bias_rows(grid, (y0, y1))
        assert rows.is_contiguous()
        assert torch.equal(rows, whole[:, y0 * W:y1 * W])
        in_buffer = offset_grid_bias_rows(grid, (y0, y1), out=buffer)
        assert in_buffer.data_ptr() == buffer.data_ptr()
        assert torch.equal(in_buffer, whole[:, y0 * W:y1 * W])
        # Two images' rows, each query's row less its own number.
        minus = torch.randn(2, 3, (y1 - y0) * W, dtype=whole.dtype)
        shifted = windows_bias_rows(offset_grid_windows(grid), (y0, y1),
                                    buffer, minus=minus)
        assert shifted.data_ptr() == buffer.data_ptr()
        torch.testing.assert_close(
            shifted, whole[:, y0 * W:y1 * W] - minus.unsqueeze(-1))
    with pytest.raises(ValueError, match='do not fit in a buffer of 8'):
        offset_grid_bias_rows(grid, (0, H), out=buffer[:8])


@pytest.mark.parametrize('hw', [(5, 3), (1, 4), (4, 4)])
def test_bias_rows_grad_is_the_adjoint_of_the_rows(hw):
    H, W = hw
    table = torch.randn(relative_table_size(hw), 3, dtype=torch.float64,
                        requires_grad=True)
    grid = relative_offset_grid(table, hw, hw)
    upstream = torch.randn(3, H * W, H * W, dtype=torch.float64)
    expected, = torch.autograd.grad(offset_grid_bias(grid), table,
                                    upstream, retain_graph=True)
    grad_windows = torch.zeros(3, 2 * H - 1, W, W, dtype=torch.float64)
    for y0, y1 in [(0, H // 2), (H // 2, H)]:  # by blocks of rows
        add_bias_rows_grad(grad_windows, upstream[:, y0 * W:y1 * W],
                           (y0, y1))
    got, = torch.autograd.grad(grid, table, offset_grid_grad(grad_windows))
    torch.testing.assert_close(got, expected)
