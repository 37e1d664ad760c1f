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
table makes it from: the forward pass attends a block of query rows at a
time, each block's bias rows made into one reused buffer; the backward pass
makes each head's rows again, the log-sum-exp subtracted as they are
written, and adds their gradient straight into the grid's.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F

from ...utils.cpu import has_native_bfloat16
from .vit_geometry import (add_bias_rows_grad, offset_grid_bias,
                           offset_grid_grad, offset_grid_windows,
                           windows_bias_rows)

#: Elements of one block of recomputed scores or of bias rows (64 MB in
#: float32).
BLOCK_ELEMENTS = 2**24
#: Queries per call of the flash kernel when attending an
#: :class:`OffsetGridBias`: it ran calls of 320 queries 20% slower than of
#: 1024 or more (ViT-B, 4096 keys; 201 MB of bias rows then).
MIN_QUERIES_PER_CALL = 1024

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``grad`` over the dimensions that were broadcast from ``shape``."""
    dims = [
        d for d, (g, s) in enumerate(zip(grad.shape, shape))
        if s == 1 and g != 1
    ]
    return grad.sum(dims, keepdim=True) if dims else grad


def _block_backward(probs, q_b, k_b, v_b, do_b, delta_b, grad_probs,
                    low=None):
    """Attention backward for one block of ``n`` (query x key) matrices,
    all float32 and 3-d: ``probs`` holds ``bias - lse`` and is overwritten
    with the scores' gradient; ``q_b`` is scaled; ``grad_probs`` is a buffer
    shaped like ``probs``. Returns the gradients of ``q_b``, ``k_b`` and
    ``v_b``.

    ``low``, for bfloat16 inputs: ``(q_b, k_b, do_b)`` in bfloat16 and a
    bfloat16 buffer shaped like ``probs``. The three products with the
    probabilities and their gradient then run in bfloat16 (accumulating in
    float32, as flash attention does); the scores and ``dP``, which the
    softmax's gradient subtracts from each other, stay float32.
    """
    # P = exp(q k^T * scale + bias - lse)
    probs.baddbmm_(q_b, k_b.transpose(1, 2)).exp_()
    if low is not None:
        q_b, k_b, do_low, low_probs = low
        grad_v = torch.bmm(low_probs.copy_(probs).transpose(1, 2), do_low)
    else:
        grad_v = torch.bmm(probs.transpose(1, 2), do_b)
    # dS = P * (dP - D), in place over the probabilities.
    torch.bmm(do_b, v_b.transpose(1, 2), out=grad_probs)
    grad_scores = probs.mul_(grad_probs.sub_(delta_b))
    if low is not None:
        grad_scores = low_probs.copy_(grad_scores)
    return (torch.bmm(grad_scores, k_b),
            torch.bmm(grad_scores.transpose(1, 2), q_b), grad_v)


def _attention_backward(saved, grad_out, scale, start_scores, take_scores):
    """The backward pass of biased attention, by blocks of whole (query x
    key) matrices: some heads of one image, or all heads of some images.

    Args:
        saved (tuple): ``q, k, v, out, lse`` of the forward pass.
        grad_out (Tensor): gradient of ``out``.
        scale (float): the scores' scale.
        start_scores (callable): ``start_scores(block, buffer)`` returns the
            block's ``(images, heads, N, N)`` float32 scores holding ``bias
            - lse``, written into ``buffer`` (a flat float32 tensor of the
            block's size) or elsewhere; ``block`` is a ``(slice, slice)``
            of images and heads.
        take_scores (callable): ``take_scores(block, grad_scores)`` takes
            the block's scores' gradient (the bias's), in the same tensor.

    Returns:
        tuple: the gradients of ``q``, ``k`` and ``v``.
    """
    q, k, v, out, lse = saved
    batch, heads, q_len = q.shape[:3]
    k_len = k.shape[2]
    delta = _delta(grad_out, out)
    grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (q, k, v))
    matrix = q_len * k_len
    head_step = min(heads, max(1, BLOCK_ELEMENTS // matrix))
    batch_step = (max(1, BLOCK_ELEMENTS // (matrix * heads))
                  if head_step == heads else 1)
    # Reused from block to block: fresh 64 MB blocks cost page faults.
    size = batch_step * head_step * matrix
    buffers = torch.empty((2, size))
    low = q.dtype == torch.bfloat16 and has_native_bfloat16()
    low_buffer = torch.empty(size, dtype=torch.bfloat16) if low else None
    for b in range(0, batch, batch_step):
        for h in range(0, heads, head_step):
            blk = (slice(b, b + batch_step), slice(h, h + head_step))
            scores = start_scores(blk, buffers[0])
            n = scores.shape[0] * scores.shape[1]
            q_b, k_b, v_b, do_b = (t[blk].float().flatten(0, 1)
                                   for t in (q, k, v, grad_out))
            q_b = q_b * scale
            lows = None
            if low:
                lows = (q_b.bfloat16(), k[blk].flatten(0, 1),
                        grad_out[blk].flatten(0, 1),
                        low_buffer[:n * matrix].view(n, q_len, k_len))
            grads = _block_backward(scores.view(n, q_len, k_len), q_b, k_b,
                                    v_b, do_b, delta[blk].flatten(0, 1),
                                    buffers[1, :n * matrix].view(
                                        n, q_len, k_len), lows)
            take_scores(blk, scores)
            grad_q[blk] = (grads[0] * scale).view_as(grad_q[blk])
            grad_k[blk] = grads[1].view_as(grad_k[blk])
            grad_v[blk] = grads[2].view_as(grad_v[blk])
    return grad_q, grad_k, grad_v


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
        # Unless the bias is broadcast, the scores are computed in place in
        # its gradient.
        in_place = (tuple(bias.shape[:2]) == tuple(q.shape[:2])
                    and bias.dtype == torch.float32)
        grad_bias = (torch.empty if in_place else torch.zeros)(
            bias.shape, dtype=torch.float32)

        def bias_block(blk):
            return tuple(s if n > 1 else slice(None)
                         for s, n in zip(blk, bias.shape))

        def start_scores(blk, buffer):
            shape = q[blk].shape[:2] + (q.shape[2], k.shape[2])
            scores = (grad_bias[blk] if in_place else
                      buffer[:math.prod(shape)].view(shape))
            return torch.sub(bias[bias_block(blk)], lse[blk].unsqueeze(-1),
                             out=scores)

        def take_scores(blk, grad_scores):
            if not in_place:
                grad_bias[bias_block(blk)] += _reduce_to(
                    grad_scores, bias.shape)

        grads = _attention_backward((q, k, v, out, lse), grad_out,
                                    ctx.scale, start_scores, take_scores)
        return (*grads, grad_bias.to(bias.dtype), None)


class OffsetGridBias:
    """The additive bias ``(1, heads, H*W, H*W)`` of an offset grid,
    ``bias[h, (y, x), (y', x')] = grid[h, y - y' + H - 1, x - x' + W - 1]``
    (shared relative-position tables), kept as its grid.

    On the CPU, attention makes it a block of query rows at a time in the
    forward pass and a block of heads at a time in the backward pass, and
    returns the gradient of the grid itself: neither the bias nor its
    gradient (805 MB each for ViT-B's global blocks at 1024 px) is ever
    whole. Elsewhere it is made whole.

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


def _rows_per_call(hw, matrices):
    """Grid rows of queries per call of the flash kernel: ``matrices``
    (images x heads) rows of all keys in ``BLOCK_ELEMENTS``, or
    ``MIN_QUERIES_PER_CALL`` queries."""
    H, W = hw
    return min(H, max(1, BLOCK_ELEMENTS // (matrices * W * H * W),
                      -(-MIN_QUERIES_PER_CALL // W)))


class _GridBiasedAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, grid, scale):
        bias = OffsetGridBias(grid)
        (H, W), (batch, heads) = bias.hw, q.shape[:2]
        step = _rows_per_call(bias.hw, batch * heads)
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
        H, W = OffsetGridBias(grid).hw
        windows = offset_grid_windows(grid)
        grad_windows = torch.zeros((grid.shape[0], 2 * H - 1, W, W))

        def start_scores(blk, buffer):
            # bias - lse, written with the bias rows
            return windows_bias_rows(windows[blk[1]], (0, H), buffer,
                                     minus=lse[blk])

        def take_scores(blk, grad_scores):
            if ctx.needs_input_grad[3]:
                add_bias_rows_grad(
                    grad_windows[blk[1]], grad_scores[0] if
                    grad_scores.shape[0] == 1 else grad_scores.sum(0),
                    (0, H))

        grads = _attention_backward((q, k, v, out, lse), grad_out,
                                    ctx.scale, start_scores, take_scores)
        return (*grads, offset_grid_grad(grad_windows).to(grid.dtype), None)


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
            :class:`OffsetGridBias` is never made whole.
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
