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
(a per-image bias). Elsewhere (accelerators, a bias without grad) it is
``F.scaled_dot_product_attention`` itself.

A bias too large to hold whole (the global blocks' 805 MB at 1024 px)
comes as an :class:`OffsetGridBias`, the small grid that a shared relative
table makes it from: attention then runs a block of query rows at a time,
forward and backward, each block's bias rows made into one reused buffer,
and the backward pass adds each block's gradient straight into the grid's.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F

from .vit_geometry import (add_bias_rows_grad, offset_grid_bias,
                           offset_grid_grad, offset_grid_windows,
                           windows_bias_rows)

#: Elements of one block of recomputed scores or of bias rows (64 MB in
#: float32).
BLOCK_ELEMENTS = 2**24

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``grad`` over the dimensions that were broadcast from ``shape``."""
    dims = [
        d for d, (g, s) in enumerate(zip(grad.shape, shape))
        if s == 1 and g != 1
    ]
    return grad.sum(dims, keepdim=True) if dims else grad


def _block_backward(probs, q_b, k_b, v_b, do_b, delta_b, grad_probs):
    """Attention backward for one block of ``n`` (query x key) matrices,
    all float32 and 3-d: ``probs`` holds ``bias - lse`` and is overwritten
    with the scores' gradient; ``q_b`` is scaled; ``grad_probs`` is a buffer
    shaped like ``probs``. Returns the gradients of ``q_b``, ``k_b`` and
    ``v_b``."""
    # P = exp(q k^T * scale + bias - lse)
    probs.baddbmm_(q_b, k_b.transpose(1, 2)).exp_()
    grad_v = torch.bmm(probs.transpose(1, 2), do_b)
    # dS = P * (dP - D), in place over the probabilities.
    torch.bmm(do_b, v_b.transpose(1, 2), out=grad_probs)
    grad_scores = probs.mul_(grad_probs.sub_(delta_b))
    return (torch.bmm(grad_scores, k_b),
            torch.bmm(grad_scores.transpose(1, 2), q_b), grad_v)


def _delta(grad_out, out):
    """``D_i = sum_j P_ij dP_ij = <dO_i, O_i>``, ``(B, heads, N, 1)``."""
    return (grad_out.float() * out.float()).sum(-1, keepdim=True)


class _BiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, bias, scale):
        out, lse = _flash(q, k, v, attn_mask=bias, scale=scale)
        ctx.scale = scale
        ctx.save_for_backward(q, k, v, bias, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, bias, out, lse = ctx.saved_tensors
        scale = ctx.scale
        batch, heads, q_len = q.shape[:3]
        k_len = k.shape[2]
        delta = _delta(grad_out, out)
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
                n = q_b.shape[0]
                scores = (grad_bias[blk] if in_place else buffers[0, :n].view(
                    q[blk].shape[:2] + (q_len, k_len)))
                torch.sub(bias[bias_blk], lse[blk].unsqueeze(-1), out=scores)
                grads = _block_backward(scores.view(n, q_len, k_len),
                                        q_b * scale, k_b, v_b, do_b,
                                        delta[blk].flatten(0, 1),
                                        buffers[-1, :n])
                if not in_place:
                    grad_bias[bias_blk] += _reduce_to(scores, bias.shape)
                grad_q[blk] = (grads[0] * scale).view_as(grad_q[blk])
                grad_k[blk] = grads[1].view_as(grad_k[blk])
                grad_v[blk] = grads[2].view_as(grad_v[blk])
        return grad_q, grad_k, grad_v, grad_bias.to(bias.dtype), None


class OffsetGridBias:
    """The additive bias ``(1, heads, H*W, H*W)`` of an offset grid,
    ``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``
    (shared relative-position tables), kept as its grid.

    On the CPU, attention makes it a block of query rows at a time, in the
    forward and the backward pass, and returns the gradient of the grid
    itself: neither the bias nor its gradient (805 MB each for ViT-B's
    global blocks at 1024 px) is ever whole. Elsewhere it is made whole.

    Args:
        grid (Tensor): ``(heads, 2H - 1, 2W - 1)``; may require grad.
    """

    def __init__(self, grid: torch.Tensor):
        if grid.dim() != 3 or grid.shape[1] % 2 == 0 or grid.shape[2] % 2 == 0:
            raise ValueError('an offset grid is (heads, 2H - 1, 2W - 1), got '
                             f'{tuple(grid.shape)}')
        self.grid = grid

    @property
    def hw(self) -> Tuple[int, int]:
        return (self.grid.shape[1] + 1) // 2, (self.grid.shape[2] + 1) // 2

    def whole(self) -> torch.Tensor:
        """The bias itself, ``(1, heads, H*W, H*W)``."""
        return offset_grid_bias(self.grid).unsqueeze(0)


def grid_attention_bias(
        grid: torch.Tensor) -> Union[torch.Tensor, OffsetGridBias]:
    """The attention bias of an offset grid ``(heads, 2H - 1, 2W - 1)``:
    whole, ``(1, heads, H*W, H*W)``, when it has at most ``BLOCK_ELEMENTS``
    elements, else an :class:`OffsetGridBias`."""
    bias = OffsetGridBias(grid)
    n = math.prod(bias.hw)
    return bias.whole() if grid.shape[0] * n * n <= BLOCK_ELEMENTS else bias


def _rows_per_block(hw, matrices):
    """Grid rows of queries per block: ``matrices`` (images x heads) rows of
    all keys in ``BLOCK_ELEMENTS``."""
    H, W = hw
    return min(H, max(1, BLOCK_ELEMENTS // (matrices * W * H * W)))


class _GridBiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, grid, scale):
        bias = OffsetGridBias(grid)
        (H, W), (batch, heads) = bias.hw, q.shape[:2]
        step = _rows_per_block(bias.hw, batch * heads)
        out = torch.empty_like(q)
        lse = q.new_empty(q.shape[:3], dtype=torch.float32)
        windows = offset_grid_windows(grid)
        # One buffer for every block's bias rows: fresh ones page-fault.
        buffer = torch.empty(heads * step * W * H * W, dtype=grid.dtype)
        for y0 in range(0, H, step):
            y1 = min(y0 + step, H)
            rows = windows_bias_rows(windows, (y0, y1), buffer)
            s = slice(y0 * W, y1 * W)
            out[:, :, s], lse[:, :, s] = _flash(
                q[:, :, s], k, v, attn_mask=rows.unsqueeze(0), scale=scale)
        ctx.scale = scale
        ctx.save_for_backward(q, k, v, grid, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, grid, out, lse = ctx.saved_tensors
        scale = ctx.scale
        (H, W), (batch, heads, n) = OffsetGridBias(grid).hw, q.shape[:3]
        step = _rows_per_block((H, W), batch * heads)
        delta = _delta(grad_out, out)
        k32, v32 = (t.float().flatten(0, 1) for t in (k, v))
        grad_q = torch.empty_like(q)
        grad_k, grad_v = torch.zeros_like(k32), torch.zeros_like(v32)
        grad_windows = torch.zeros((heads, 2 * H - 1, W, W))
        windows = offset_grid_windows(grid)
        # Reused from block to block: fresh 64 MB blocks cost page faults.
        buffers = torch.empty((2, batch * heads * step * W * n))
        for y0 in range(0, H, step):
            y1 = min(y0 + step, H)
            s, m = slice(y0 * W, y1 * W), (y1 - y0) * W
            # bias - lse, written with the bias rows
            probs = windows_bias_rows(windows, (y0, y1), buffers[0],
                                      minus=lse[:, :, s])
            q_b, do_b = (t[:, :, s].float().flatten(0, 1)
                         for t in (q, grad_out))
            grads = _block_backward(
                probs.view(-1, m, n), q_b * scale, k32, v32, do_b,
                delta[:, :, s].flatten(0, 1),
                buffers[1, :probs.numel()].view(-1, m, n))
            if ctx.needs_input_grad[3]:
                add_bias_rows_grad(grad_windows,
                                   probs.sum(0) if batch > 1 else probs[0],
                                   (y0, y1))
            grad_q[:, :, s] = (grads[0] * scale).view(batch, heads, m, -1)
            grad_k += grads[1]
            grad_v += grads[2]
        return (grad_q, grad_k.view_as(k).to(k.dtype),
                grad_v.view_as(v).to(v.dtype),
                offset_grid_grad(grad_windows).to(grid.dtype), None)


def _scale(q, scale):
    return q.shape[-1]**-0.5 if scale is None else scale


def biased_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     bias: Union[torch.Tensor, OffsetGridBias, None],
                     scale: Optional[float] = None) -> torch.Tensor:
    """``softmax(q @ k^T * scale + bias) @ v``.

    Args:
        q, k, v (Tensor): ``(B, heads, N, head_dims)``.
        bias (Tensor | OffsetGridBias | None): additive bias of shape
            ``(B | 1, heads | 1, N, N)``; may require grad. The fused path
            takes a float32 bias with bfloat16 q, k, v as it is (no copy,
            and its gradient computed in place in float32). On the CPU an
            :class:`OffsetGridBias` is attended a block of query rows at a
            time.
        scale (float, optional): defaults to ``head_dims ** -0.5``.

    Returns:
        Tensor: ``(B, heads, N, head_dims)``.
    """
    supported = (q.device.type == 'cpu'
                 and q.dtype in (torch.float32, torch.bfloat16))
    if isinstance(bias, OffsetGridBias):
        if bias.grid.dtype != torch.float32 or not supported:
            bias = bias.whole()
        elif math.prod(bias.hw) != q.shape[2]:
            raise ValueError(f'the bias is for a {bias.hw} grid of '
                             f'{math.prod(bias.hw)} tokens, the queries '
                             f'have {q.shape[2]}')
        else:
            return _GridBiasedAttention.apply(q, k, v, bias.grid,
                                              _scale(q, scale))
    fused = (supported and bias is not None and bias.requires_grad
             and torch.is_grad_enabled() and bias.dim() == 4
             and bias.dtype in (torch.float32, q.dtype))
    if not fused:
        if bias is not None and bias.is_floating_point():
            bias = bias.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                              scale=scale)
    return _BiasedAttention.apply(q, k, v, bias, _scale(q, scale))
