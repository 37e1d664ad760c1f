from .atomic_files import AtomicLocalBackend, atomic_write
from .distributed import setup_distributed
from .handoff import build_detector, handoff_checkpoint
from .hooks import *  # noqa: F401,F403
from .model_wrappers import AnyDeviceDistributedDataParallel
from .optimizers import *  # noqa: F401,F403
from .resume import find_resumable_checkpoint
from .safe_checkpoint_loading import allow_mmengine_checkpoint_types

allow_mmengine_checkpoint_types()

__all__ = [
    'AnyDeviceDistributedDataParallel', 'AtomicLocalBackend',
    'allow_mmengine_checkpoint_types', 'atomic_write', 'build_detector',
    'find_resumable_checkpoint', 'handoff_checkpoint', 'setup_distributed'
]
