from .atomic_files import AtomicLocalBackend, atomic_write
from .distributed import setup_distributed
from .handoff import build_detector, handoff_checkpoint
from .hooks import *  # noqa: F401,F403
from .model_wrappers import AnyDeviceDistributedDataParallel
from .optimizers import *  # noqa: F401,F403
from .resume import find_resumable_checkpoint
from .runner import TransferRunner, build_runner

__all__ = [
    'AnyDeviceDistributedDataParallel', 'AtomicLocalBackend', 'TransferRunner',
    'atomic_write', 'build_detector', 'build_runner',
    'find_resumable_checkpoint', 'handoff_checkpoint', 'setup_distributed'
]
