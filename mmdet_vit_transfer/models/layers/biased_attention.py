"""Attention with a learnable additive bias, fused on the CPU.

``F.scaled_dot_product_attention`` falls back to its unfused "math" path
whenever ``attn_mask`` requires grad, which a learnable relative-position
bias always does: every block then stores its full ``(B, heads, N, N)``
probabilities for the backward pass (800 MB per global block of ViT-B at
1024 px) and runs several extra passes over them. :func:`biased_attention`
keeps the fused CPU kernel for the forward pass and stores only its output
and row log-sum-exp; the backward pass recomputes the probabilities a block
of query rows at a time, as flash attention does, and also returns the
gradient of the bias. Elsewhere (accelerators, a bias without grad) it is
``F.scaled_dot_product_attention`` itself.
"""
from typing import Optional

import torch
import torch.nn.functional as F

#: Elements of one recomputed block of scores (64 MB in float32).
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
        grad_out = grad_out.contiguous()
        batch, heads, length = q.shape[:3]
        # D_i = sum_j P_ij dP_ij = <dO_i, O_i>
        delta = (grad_out.float() * out.float()).sum(-1)
        grad_q = torch.empty_like(q)
        grad_k = torch.zeros_like(k, dtype=torch.float32)
        grad_v = torch.zeros_like(v, dtype=torch.float32)
        grad_bias = torch.empty(
            bias.shape[:2] + (length, k.shape[2]), dtype=bias.dtype)
        rows = max(1, BLOCK_ELEMENTS // (batch * heads * k.shape[2]))
        k_t, v_t = k.transpose(-1, -2), v.transpose(-1, -2)
        for start in range(0, length, rows):
            block = slice(start, min(start + rows, length))
            q_b, do_b = q[:, :, block], grad_out[:, :, block]
            scores = torch.matmul(q_b, k_t).float() * scale
            scores += bias[:, :, block].float()
            probs = torch.exp(scores - lse[:, :, block, None])
            grad_v += torch.matmul(
                probs.to(v.dtype).transpose(-1, -2), do_b).float()
            grad_probs = torch.matmul(do_b, v_t).float()
            # dS = P * (dP - D), in place over the probabilities.
            grad_scores = probs.mul_(grad_probs.sub_(delta[:, :, block,
                                                           None]))
            grad_bias[:, :, block] = _reduce_to(grad_scores,
                                                bias.shape).to(bias.dtype)
            grad_scores = grad_scores.to(q.dtype)
            grad_q[:, :, block] = torch.matmul(grad_scores, k) * scale
            grad_k += torch.matmul(grad_scores.transpose(-1, -2),
                                   q_b).float() * scale
        return (grad_q, grad_k.to(k.dtype), grad_v.to(v.dtype), grad_bias,
                None)


def biased_attention(q: torch.Tensor,
                     k: torch.Tensor,
                     v: torch.Tensor,
                     bias: Optional[torch.Tensor],
                     scale: Optional[float] = None) -> torch.Tensor:
    """``softmax(q @ k^T * scale + bias) @ v``.

    Args:
        q, k, v (Tensor): ``(B, heads, N, head_dims)``.
        bias (Tensor | None): additive bias of shape ``(B | 1, heads | 1,
            N, N)``; may require grad.
        scale (float, optional): defaults to ``head_dims ** -0.5``.

    Returns:
        Tensor: ``(B, heads, N, head_dims)``.
    """
    fused = (bias is not None and bias.requires_grad and q.device.type == 'cpu'
             and torch.is_grad_enabled() and bias.dim() == 4
             and q.dtype in (torch.float32, torch.bfloat16))
    if not fused:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                              scale=scale)
    scale = q.shape[-1]**-0.5 if scale is None else scale
    return _BiasedAttention.apply(q, k, v, bias, scale)
