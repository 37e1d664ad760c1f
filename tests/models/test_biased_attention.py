"""The fused CPU attention with a learnable bias against PyTorch's own
(unfused) path: same outputs and gradients, including the bias's."""
import pytest
import torch
import torch.nn.functional as F

from mmdet_vit_transfer.models.layers import biased_attention as module
from mmdet_vit_transfer.models.layers.biased_attention import (
    QueryBlockedBias, biased_attention)


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


def test_bfloat16_queries_with_a_float32_bias():
    # The backbone's shared tables give float32 biases under bf16 autocast:
    # taken as they are, their gradient stays float32.
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


def blocked(bias, block):
    """``bias`` served ``block`` query rows at a time, as the backbone does."""

    def make_rows(start, stop, out):
        rows = bias[:, :, start:stop]
        if out is None:
            return rows.clone()
        return out[:rows.numel()].view_as(rows).copy_(rows)

    return QueryBlockedBias(make_rows, bias.shape[2], block)


@pytest.mark.parametrize('block', [1, 7, 50, 64])
def test_query_blocked_bias_matches_the_whole_bias(block):
    q, k, v = (torch.randn(1, 3, 50, 16) for _ in range(3))
    bias = torch.randn(1, 3, 50, 50)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    with torch.no_grad():
        got = biased_attention(q, k, v, blocked(bias, block))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_query_blocked_bias_reuses_one_buffer():
    bias = blocked(torch.randn(1, 2, 10, 10), 4)
    pointers = {rows.data_ptr() for _, _, rows in bias.blocks()}
    assert len(pointers) == 1
    assert [(start, stop) for start, stop, _ in bias.blocks()] == \
        [(0, 4), (4, 8), (8, 10)]


def test_query_blocked_bias_refuses_autograd_and_other_lengths():
    q, k, v = (torch.randn(1, 2, 10, 8, requires_grad=True) for _ in range(3))
    bias = blocked(torch.randn(1, 2, 10, 10), 4)
    with pytest.raises(RuntimeError, match='for inference'):
        biased_attention(q, k, v, bias)
    with torch.no_grad(), pytest.raises(ValueError, match='12 query rows'):
        biased_attention(q, k, v, blocked(torch.randn(1, 2, 12, 12), 4))
    with pytest.raises(ValueError, match='block must be >= 1'):
        QueryBlockedBias(lambda *args: None, 10, 0)
