"""State-dict checks of the hand-off of direct detection pre-training: the
weights a detector checkpoint puts into the model, and whether they fill
the whole model (no model is built here).

The hand-off itself (:func:`mmdet_vit_transfer.engine.handoff_checkpoint`)
fits a stage-1 detector to stage 2; ``StrictLoadHook`` refuses a stage-2
start that does not fill its whole model.
"""
import re
from typing import Dict, Mapping

import torch

from .report import LoadReport, summarize_keys

#: Top-level entries of an mmengine checkpoint that stage 2 does not take.
TRAINING_STATE = {
    'optimizer': 'optimizer state (stage 2 builds its own)',
    'param_schedulers': 'lr schedule state (stage 2 runs its own)',
    'message_hub': 'training log state',
}
HANDOFF_HINT = ('Write the stage-2 starting point with `python '
                'tools/handoff_checkpoint.py STAGE1_CKPT STAGE2_CONFIG OUT` '
                'and set load_from=OUT')
# mmengine's loader strips a DistributedDataParallel prefix
# (Runner.load_checkpoint's default revise_keys); the checks do the same.
_WRAPPER_PREFIX = re.compile(r'^module\.')


class HandoffReport(LoadReport):
    """:class:`LoadReport` of a whole detector rather than a backbone."""

    def __str__(self) -> str:
        return super().__str__().replace(
            f'Loaded {len(self.loaded)} tensors into the backbone.',
            f'Loaded {len(self.loaded)} tensors into the detector.')


def model_state(checkpoint: Mapping) -> Dict[str, torch.Tensor]:
    """The weights mmengine's ``Runner.load_checkpoint`` puts into the model.

    Args:
        checkpoint (Mapping): a loaded checkpoint: ``{'state_dict': ...,
            ...}`` as mmengine writes it, or a bare state dict.

    Returns:
        dict: name -> tensor, without a ``module.`` prefix, as mmengine
        reads them (its ``revise_keys`` default).
    """
    state = checkpoint.get('state_dict', checkpoint)
    return {_WRAPPER_PREFIX.sub('', key): value
            for key, value in state.items()}


def check_state_matches(state: Mapping[str, torch.Tensor],
                        expected: Mapping[str, torch.Tensor], source: str,
                        hint: str = '') -> None:
    """Fail unless ``state`` has exactly the keys of ``expected``, each with
    its shape.

    Args:
        state (Mapping): the tensors to load.
        expected (Mapping): the model's state dict.
        source (str): what ``state`` is, for the message.
        hint (str): what to do about a mismatch, appended to the message.

    Raises:
        ValueError: listing the missing keys, the keys without a place in
            the model and the tensors of another shape.
    """
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        f'{key}: {tuple(state[key].shape)} in {source}, '
        f'{tuple(expected[key].shape)} in the model' for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} model keys missing from it '
                        f'({summarize_keys(missing)})')
    if unexpected:
        problems.append(f'{len(unexpected)} keys with no place in the model '
                        f'({summarize_keys(unexpected)})')
    if wrong:
        problems.append(f'{len(wrong)} tensors of another shape '
                        f'({"; ".join(wrong)})')
    if problems:
        raise ValueError(f'{source} does not match the model: ' +
                         '; '.join(problems) + (f'. {hint}' if hint else ''))
