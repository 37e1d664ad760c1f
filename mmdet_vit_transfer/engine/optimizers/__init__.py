from .amp import CPUBFloat16AmpOptimWrapper, select_amp_optim_wrapper
from .layer_decay import (LayerDecayOptimWrapperConstructor,
                          is_weight_decay_exempt, layer_decay_scale)
from .skip_non_finite import SkipNonFiniteOptimWrapper

__all__ = [
    'CPUBFloat16AmpOptimWrapper', 'LayerDecayOptimWrapperConstructor',
    'SkipNonFiniteOptimWrapper', 'is_weight_decay_exempt',
    'layer_decay_scale', 'select_amp_optim_wrapper'
]
