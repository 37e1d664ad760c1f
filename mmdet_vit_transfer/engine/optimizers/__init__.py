from .amp import CPUAwareAmpOptimWrapper
from .layer_decay import (LayerDecayOptimWrapperConstructor,
                          is_weight_decay_exempt, layer_decay_scale)
from .skip_non_finite import SkipNonFiniteOptimWrapper

__all__ = [
    'CPUAwareAmpOptimWrapper', 'LayerDecayOptimWrapperConstructor',
    'SkipNonFiniteOptimWrapper', 'is_weight_decay_exempt', 'layer_decay_scale'
]
