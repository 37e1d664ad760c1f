from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .safe_checkpoint_loading import allow_mmengine_checkpoint_types

allow_mmengine_checkpoint_types()

__all__ = ['allow_mmengine_checkpoint_types']
