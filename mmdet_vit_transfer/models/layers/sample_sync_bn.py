"""BatchNorm whose statistics are synchronised across processes, weighted by
each process's sample count, on any backend (gloo on CPU too).

Mask R-CNN's box and mask heads see a different number of RoIs on every
process, possibly none (large-scale jitter can crop away every object). The
paper syncs their BN statistics weighted by sample count (detectron2's
``NaiveSyncBatchNorm(stats_mode="N")``); torch's ``SyncBatchNorm`` needs a
GPU and an empty batch on one process makes it fail.
"""
import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.dist import get_world_size
from mmdet.registry import MODELS


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose gradient is also summed over processes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


@MODELS.register_module('SampleSyncBN')
class SampleSyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d with statistics synchronised across processes, each
    process weighted by its number of samples; an empty batch is allowed.

    In one process it is a plain BatchNorm2d that also accepts an empty
    batch (the output is empty and the running statistics are unchanged).
    Arguments are those of :class:`torch.nn.BatchNorm2d`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        distributed = dist.is_available() and dist.is_initialized() and \
            get_world_size() > 1
        if not distributed:
            if x.shape[0] == 0:
                # Keep the parameters in the graph so that every process
                # produces gradients for them.
                return x + 0 * (self.weight.sum() + self.bias.sum())
            return super().forward(x)

        C = x.shape[1]
        x32 = x.float()
        n = x.shape[0] * x.shape[2] * x.shape[3]
        if n == 0:
            # Contributes nothing, but stays connected to the graph.
            stats = torch.zeros(2 * C + 1, device=x.device) + x32.sum()
        else:
            mean = x32.mean(dim=(0, 2, 3))
            meansqr = (x32 * x32).mean(dim=(0, 2, 3))
            stats = torch.cat([mean, meansqr, mean.new_ones(1)]) * n
        stats = _AllReduceSum.apply(stats)
        total = stats[-1].detach()
        mean, meansqr = torch.split(stats[:-1] / total.clamp(min=1), C)
        var = (meansqr - mean * mean).clamp(min=0)
        scale = self.weight * torch.rsqrt(var + self.eps)
        shift = self.bias - mean * scale
        if total > 0:
            with torch.no_grad():
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
                self.num_batches_tracked += 1
        out = x32 * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
        return out.to(x.dtype)
