from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .safe_checkpoint_loading import allow_mmengine_checkpoint_types
from .atomic_files import AtomicLocalBackend, atomic_write
from .distributed import setup_distributed
from .model_wrappers import AnyDeviceDistributedDataParallel
from .resume import find_resumable_checkpoint

allow_mmengine_checkpoint_types()

__all__ = ['allow_mmengine_checkpoint_types']
__all__ += [
    'AnyDeviceDistributedDataParallel', 'AtomicLocalBackend', 'atomic_write',
    'find_resumable_checkpoint', 'setup_distributed'
]
