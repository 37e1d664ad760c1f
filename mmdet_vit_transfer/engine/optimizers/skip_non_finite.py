"""An optimizer wrapper that leaves the weights alone when the loss is not
finite.

One NaN or Inf loss, once back-propagated and stepped, turns AdamW's moment
estimates and then every weight into NaN; the run is lost from there on.
:class:`SkipNonFiniteOptimWrapper` checks the loss before the backward pass
and skips the whole update instead. In distributed training all processes
agree first (one all-reduce of a flag), so they skip together and DDP's
gradient all-reduce never sees a partial set of processes.
:class:`~mmdet_vit_transfer.engine.hooks.NonFiniteLossHook` names the
offending loss terms, counts the skipped updates and stops the run past its
limit.
"""
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.optim import OptimWrapper
from mmdet.registry import OPTIM_WRAPPERS


def is_finite_on_all_ranks(loss: torch.Tensor) -> bool:
    """Whether ``loss`` is finite in this process and in every other one.

    Args:
        loss (torch.Tensor): This process's loss.

    Returns:
        bool: The same answer in every process.
    """
    flag = torch.isfinite(loss.detach()).all().to(torch.float32).reshape(1)
    if is_distributed():
        all_reduce(flag, op='min')
    return bool(flag.item())


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` that skips the update of an
    iteration whose loss is NaN or Inf in any process.

    For such an iteration there is no backward pass and no optimizer step;
    the gradients are cleared. With gradient accumulation, the whole
    accumulation window that contains it is dropped. Arguments are those of
    :class:`~mmengine.optim.OptimWrapper`.

    Attributes:
        last_loss_finite (bool): Whether the loss of the latest
            :meth:`update_params` call was finite in every process.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_loss_finite = True
        self._window_has_non_finite = False

    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """Back-propagate ``loss`` and step, unless it is not finite.

        Args:
            loss (torch.Tensor): The loss of this iteration.
            step_kwargs (dict, optional): Arguments of ``optimizer.step``.
            zero_kwargs (dict, optional): Arguments of
                ``optimizer.zero_grad``.
        """
        self.last_loss_finite = is_finite_on_all_ranks(loss)
        if self.last_loss_finite:
            self.backward(self.scale_loss(loss))
        else:
            # backward() counts the iteration; count it without backward.
            self._inner_count += 1
            self._window_has_non_finite = True
        if self.should_update():
            if not self._window_has_non_finite:
                self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))
            self._window_has_non_finite = False
