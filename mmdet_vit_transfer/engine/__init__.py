from .atomic_files import AtomicLocalBackend, atomic_write
from .distributed import setup_distributed
from .hooks import *  # noqa: F401,F403
from .model_wrappers import AnyDeviceDistributedDataParallel
from .optimizers import *  # noqa: F401,F403
from .resume import find_resumable_checkpoint
from .runner import TransferRunner, build_runner

__all__ = [
    'AnyDeviceDistributedDataParallel', 'AtomicLocalBackend', 'TransferRunner',
    'atomic_write', 'build_runner', 'find_resumable_checkpoint',
    'setup_distributed'
]
