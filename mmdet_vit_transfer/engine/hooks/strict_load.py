"""Start training only from a checkpoint that fills the whole model."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...checkpoints.handoff import (HANDOFF_HINT, check_state_matches,
                                    model_state)


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Start training only from a checkpoint that fills the whole model.

    mmengine's ``load_from`` loads non-strictly: missing, extra or reshaped
    keys are logged as a warning and left at init. Stage 2 of direct
    detection pre-training must start from the whole stage-1 detector, so
    this hook checks every loaded checkpoint before its weights go into the
    model, and refuses a training run that loaded none.
    """

    # Last, so that it checks the checkpoint as other hooks leave it.
    priority = 'VERY_LOW'

    def __init__(self):
        self.loaded = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Raise ValueError unless ``checkpoint`` has exactly the model's
        keys and shapes."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        expected = model.state_dict()
        check_state_matches(
            model_state(checkpoint), expected,
            f'the checkpoint (load_from={runner.cfg.get("load_from")!r})',
            hint=HANDOFF_HINT)
        self.loaded = True
        print_log(f'{type(self).__name__}: the checkpoint fills all '
                  f'{len(expected)} tensors of the model', logger='current')

    def before_train(self, runner) -> None:
        """Raise RuntimeError when training would start from random init."""
        if not self.loaded:
            raise RuntimeError(
                f'{type(self).__name__}: no checkpoint was loaded '
                f'(load_from={runner.cfg.get("load_from")!r}), so training '
                f'would start from random init. {HANDOFF_HINT}')
