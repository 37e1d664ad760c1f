"""Attention with a learnable additive bias, fused on the CPU.

``F.scaled_dot_product_attention`` falls back to its unfused "math" path
whenever ``attn_mask`` requires grad, which a learnable relative-position
bias always does: every block then stores its full ``(B, heads, N, N)``
probabilities for the backward pass (800 MB per global block of ViT-B at
1024 px) and runs several extra passes over them. :func:`biased_attention`
keeps the fused CPU kernel for the forward pass and stores only its output
and row log-sum-exp; the backward pass recomputes the probabilities a few
heads at a time, as flash attention does, and also returns the gradient of
the bias, computed in place in its output when the bias is not broadcast
(the global blocks' bias). Elsewhere (accelerators, a bias without grad) it is
``F.scaled_dot_product_attention`` itself.

At inference a bias too large to hold whole (the global blocks' 805 MB at
1024 px) comes as a :class:`QueryBlockedBias`: attention then runs a block
of query rows at a time, each block's bias rows made into one reused buffer.
"""
from typing import Callable, Iterator, Optional, Tuple, Union

import torch
import torch.nn.functional as F

#: Elements of one block of recomputed scores or of bias rows (64 MB in
#: float32).
BLOCK_ELEMENTS = 2**24


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``grad`` over the dimensions that were broadcast from ``shape``."""
    dims = [
        d for d, (g, s) in enumerate(zip(grad.shape, shape))
        if s == 1 and g != 1
    ]
    return grad.sum(dims, keepdim=True) if dims else grad


class _BiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, bias, scale):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, attn_mask=bias, scale=scale)
        ctx.scale = scale
        ctx.save_for_backward(q, k, v, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, bias, out, lse = ctx.saved_tensors
        scale = ctx.scale
        batch, heads, q_len = q.shape[:3]
        k_len = k.shape[2]
        # D_i = sum_j P_ij dP_ij = <dO_i, O_i>
        delta = (grad_out.float() * out.float()).sum(-1, keepdim=True)
        grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (q, k, v))
        # A block holds whole (query x key) matrices of some heads of one
        # image, or of all heads of some images: contiguous in a
        # (batch, heads, ...) tensor, so that when the bias is not broadcast
        # the scores are computed in place in the bias gradient.
        matrix = q_len * k_len
        head_step = min(heads, max(1, BLOCK_ELEMENTS // matrix))
        batch_step = (max(1, BLOCK_ELEMENTS // (matrix * heads))
                      if head_step == heads else 1)
        in_place = (tuple(bias.shape[:2]) == (batch, heads)
                    and bias.dtype == torch.float32)
        grad_bias = (torch.empty if in_place else torch.zeros)(
            bias.shape, dtype=torch.float32)
        # Reused from block to block: fresh 64 MB blocks cost page faults.
        buffers = torch.empty((1 if in_place else 2, batch_step * head_step,
                               q_len, k_len))
        for b in range(0, batch, batch_step):
            for h in range(0, heads, head_step):
                blk = (slice(b, b + batch_step), slice(h, h + head_step))
                bias_blk = tuple(s if n > 1 else slice(None)
                                 for s, n in zip(blk, bias.shape))
                q_b, k_b, v_b, do_b = (t[blk].float().flatten(0, 1)
                                       for t in (q, k, v, grad_out))
                q_b = q_b * scale
                n = q_b.shape[0]
                scores = (grad_bias[blk] if in_place else buffers[0, :n].view(
                    q[blk].shape[:2] + (q_len, k_len)))
                # P = exp(q k^T * scale + bias - lse)
                torch.sub(bias[bias_blk], lse[blk].unsqueeze(-1), out=scores)
                probs = scores.view(n, q_len, k_len)
                probs.baddbmm_(q_b, k_b.transpose(1, 2)).exp_()
                grad_v[blk] = torch.bmm(probs.transpose(1, 2),
                                        do_b).view_as(grad_v[blk])
                # dS = P * (dP - D), in place over the probabilities.
                grad_probs = torch.bmm(do_b, v_b.transpose(1, 2),
                                       out=buffers[-1, :n])
                grad_scores = probs.mul_(
                    grad_probs.sub_(delta[blk].flatten(0, 1)))
                if not in_place:
                    grad_bias[bias_blk] += _reduce_to(scores, bias.shape)
                grad_q[blk] = (torch.bmm(grad_scores, k_b) *
                               scale).view_as(grad_q[blk])
                grad_k[blk] = torch.bmm(grad_scores.transpose(1, 2),
                                        q_b).view_as(grad_k[blk])
        return grad_q, grad_k, grad_v, grad_bias.to(bias.dtype), None


class QueryBlockedBias:
    """An additive bias ``(1, heads, N, N)`` made ``block`` query rows at a
    time, for inference: only one block of it is ever held.

    Args:
        make_rows (callable): ``make_rows(start, stop, out)`` returns the
            bias rows of queries ``start:stop`` as ``(1, heads, stop - start,
            N)``, written into the buffer ``out`` (a flat tensor) when given.
        num_queries (int): N.
        block (int): query rows per block.
    """

    def __init__(self, make_rows: Callable[[int, int, Optional[torch.Tensor]],
                                           torch.Tensor], num_queries: int,
                 block: int):
        if block < 1:
            raise ValueError(f'block must be >= 1, got {block}')
        self.make_rows = make_rows
        self.num_queries = num_queries
        self.block = block
        # Shared by every block that attends with this bias: a fresh buffer
        # per block of rows would page-fault its way through the whole bias.
        self._buffer = None

    def blocks(self) -> Iterator[Tuple[int, int, torch.Tensor]]:
        """Yield ``(start, stop, rows)`` over all query rows; ``rows`` lives
        in the shared buffer and is overwritten by the next block."""
        for start in range(0, self.num_queries, self.block):
            stop = min(start + self.block, self.num_queries)
            rows = self.make_rows(start, stop, self._buffer)
            if self._buffer is None:  # the first block is the largest
                self._buffer = rows.view(-1)
            yield start, stop, rows


def _query_blocked_attention(q, k, v, bias: QueryBlockedBias, scale):
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        raise RuntimeError('a QueryBlockedBias is for inference: its rows '
                           'are overwritten block by block, so autograd '
                           'cannot keep them')
    if bias.num_queries != q.shape[2]:
        raise ValueError(f'the bias has {bias.num_queries} query rows, '
                         f'the queries {q.shape[2]}')
    out = torch.empty_like(q)
    for start, stop, rows in bias.blocks():
        out[:, :, start:stop] = F.scaled_dot_product_attention(
            q[:, :, start:stop], k, v, attn_mask=rows.to(q.dtype),
            scale=scale)
    return out


def biased_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     bias: Union[torch.Tensor, QueryBlockedBias, None],
                     scale: Optional[float] = None) -> torch.Tensor:
    """``softmax(q @ k^T * scale + bias) @ v``.

    Args:
        q, k, v (Tensor): ``(B, heads, N, head_dims)``.
        bias (Tensor | QueryBlockedBias | None): additive bias of shape
            ``(B | 1, heads | 1, N, N)``; may require grad. The fused path
            takes a float32 bias with bfloat16 q, k, v as it is (no copy,
            and its gradient computed in place in float32). A
            :class:`QueryBlockedBias` (inference only) attends a block of
            query rows at a time.
        scale (float, optional): defaults to ``head_dims ** -0.5``.

    Returns:
        Tensor: ``(B, heads, N, head_dims)``.
    """
    if isinstance(bias, QueryBlockedBias):
        return _query_blocked_attention(q, k, v, bias, scale)
    fused = (bias is not None and bias.requires_grad and q.device.type == 'cpu'
             and torch.is_grad_enabled() and bias.dim() == 4
             and q.dtype in (torch.float32, torch.bfloat16)
             and bias.dtype in (torch.float32, q.dtype))
    if not fused:
        if bias is not None and bias.is_floating_point():
            bias = bias.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                              scale=scale)
    scale = q.shape[-1]**-0.5 if scale is None else scale
    return _BiasedAttention.apply(q, k, v, bias, scale)
