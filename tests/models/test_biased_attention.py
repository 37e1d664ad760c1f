"""The fused CPU attention with a learnable bias against PyTorch's own
(unfused) path: same outputs and gradients, including the bias's."""
import pytest
import torch
import torch.nn.functional as F

from mmdet_vit_transfer.models.layers import biased_attention as module
from mmdet_vit_transfer.models.layers import vit_geometry
from mmdet_vit_transfer.models.layers.biased_attention import (
    OffsetGridBias, biased_attention, grid_attention_bias)
from mmdet_vit_transfer.models.layers.vit_geometry import offset_grid_bias


@pytest.mark.parametrize('shapes', [
    ((2, 3, 50, 16), (1, 3, 50, 50)),   # one bias shared by all windows
    ((2, 3, 50, 16), (2, 3, 50, 50)),   # per-image bias (decomposed)
    ((1, 2, 37, 8), (1, 1, 37, 37)),    # one bias for all heads
    ((1, 3, 50, 16), (1, 3, 50, 50)),   # global attention of one image
])
@pytest.mark.parametrize('block_elements', [3000, 2**24])
def test_matches_unfused_attention(shapes, block_elements, monkeypatch):
    monkeypatch.setattr(module, 'BLOCK_ELEMENTS', block_elements)
    qkv_shape, bias_shape = shapes
    q, k, v = (torch.randn(qkv_shape, requires_grad=True) for _ in range(3))
    bias = torch.randn(bias_shape, requires_grad=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    got = biased_attention(q, k, v, bias)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    for g, e in zip(torch.autograd.grad(got, (q, k, v, bias), upstream),
                    torch.autograd.grad(expected, (q, k, v, bias), upstream)):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5)


def test_fused_kernel_is_used_and_probabilities_are_not_stored():
    q, k, v = (torch.randn(1, 2, 64, 8, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 2, 64, 64, requires_grad=True)
    with torch.profiler.profile() as prof:
        biased_attention(q, k, v, bias).sum().backward()
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
        got = biased_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(),
                               bias.bfloat16())
    got.float().sum().backward()
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.05)
    for g, w in zip((q.grad, k.grad, v.grad, bias.grad), want):
        torch.testing.assert_close(g, w, rtol=0.1, atol=0.1)


@pytest.mark.parametrize('native', [True, False])
def test_bfloat16_queries_with_a_float32_bias(native, monkeypatch):
    # The backbone's shared tables give float32 biases under bf16 autocast:
    # taken as they are, their gradient stays float32. With native bf16
    # the backward pass's products with P and dS run in bf16.
    monkeypatch.setattr(module, 'has_native_bfloat16', lambda: native)
    q, k, v = (torch.randn(1, 2, 40, 16, requires_grad=True)
               for _ in range(3))
    bias = torch.randn(1, 2, 40, 40, requires_grad=True)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    upstream = torch.randn_like(expected)
    want = torch.autograd.grad(expected, (q, k, v, bias), upstream)
    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    got = biased_attention(*low, bias)
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
def test_offset_grid_bias_matches_the_whole_bias(batch, hw, block_elements,
                                                 monkeypatch):
    # Forward calls of one grid row of queries, of two or three, or of all
    # rows; backward blocks of one head, of the heads of one image, or all.
    monkeypatch.setattr(module, 'BLOCK_ELEMENTS', block_elements)
    monkeypatch.setattr(module, 'MIN_QUERIES_PER_CALL', 1)
    n = hw[0] * hw[1]
    q, k, v = (torch.randn(batch, 3, n, 16, requires_grad=True)
               for _ in range(3))
    grid, whole = grid_and_whole(3, hw)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=whole)
    got = biased_attention(q, k, v, OffsetGridBias(grid))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    for g, e in zip(torch.autograd.grad(got, (q, k, v, grid), upstream),
                    torch.autograd.grad(expected, (q, k, v, grid), upstream)):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(
            biased_attention(q, k, v, OffsetGridBias(grid)), expected,
            rtol=1e-5, atol=1e-5)


def test_offset_grid_bias_is_never_made_whole_on_the_cpu(monkeypatch):
    monkeypatch.setattr(module, 'BLOCK_ELEMENTS', 2 * 4 * 20)
    q, k, v = (torch.randn(1, 2, 20, 8, requires_grad=True) for _ in range(3))
    grid, _ = grid_and_whole(2, (4, 5))

    def refuse(grid):
        raise AssertionError('the whole bias was made')

    monkeypatch.setattr(vit_geometry, '_OffsetGridToBias',
                        type('Refuse', (), {'apply': staticmethod(refuse)}))
    with torch.profiler.profile() as prof:
        biased_attention(q, k, v, OffsetGridBias(grid)).sum().backward()
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::_scaled_dot_product_attention_math' not in ops
    assert grid.grad.shape == grid.shape


def test_offset_grid_bias_elsewhere_is_made_whole():
    # float64 has no fused CPU kernel here: the bias is made whole and
    # attention is PyTorch's own, with the same gradients.
    q, k, v = (torch.randn(1, 2, 12, 8, dtype=torch.float64,
                           requires_grad=True) for _ in range(3))
    grid = torch.randn(2, 5, 7, dtype=torch.float64, requires_grad=True)
    whole = offset_grid_bias(grid).unsqueeze(0)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=whole)
    got = biased_attention(q, k, v, OffsetGridBias(grid))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(
        torch.autograd.grad(got.sum(), grid)[0],
        torch.autograd.grad(expected.sum(), grid)[0])


@pytest.mark.parametrize('native', [True, False])
def test_offset_grid_bias_with_a_frozen_grid_and_bfloat16_queries(
        native, monkeypatch):
    monkeypatch.setattr(module, 'has_native_bfloat16', lambda: native)
    q, k, v = (torch.randn(1, 2, 20, 16, requires_grad=True)
               for _ in range(3))
    grid, whole = grid_and_whole(2, (4, 5), requires_grad=False)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=whole)
    upstream = torch.randn_like(expected)
    want = torch.autograd.grad(expected, (q, k, v), upstream)
    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    got = biased_attention(*low, OffsetGridBias(grid))
    assert got.dtype == torch.bfloat16
    grads = torch.autograd.grad(got, low, upstream.bfloat16())
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.05)
    for g, w in zip(grads, want):
        assert g.dtype == torch.bfloat16
        torch.testing.assert_close(g.float(), w, rtol=0.1, atol=0.1)


def test_grid_attention_bias_is_whole_only_when_small(monkeypatch):
    grid, whole = grid_and_whole(2, (3, 4))
    assert torch.equal(grid_attention_bias(grid), whole)
    monkeypatch.setattr(module, 'BLOCK_ELEMENTS', 2 * 12 * 12 - 1)
    bias = grid_attention_bias(grid)
    assert isinstance(bias, OffsetGridBias) and bias.hw == (3, 4)


def test_offset_grid_bias_refuses_bad_grids_and_lengths():
    with pytest.raises(ValueError, match=r'\(heads, 2H - 1, 2W - 1\)'):
        OffsetGridBias(torch.zeros(2, 4, 5))
    q, k, v = (torch.randn(1, 2, 10, 8) for _ in range(3))
    with pytest.raises(ValueError, match='12 tokens, the queries have 10'):
        biased_attention(q, k, v, OffsetGridBias(torch.zeros(2, 5, 7)))
