"""Start distributed training on GPUs and on CPU-only machines alike.

mmengine 0.10.7 assumes a GPU per process: its ``init_dist`` calls
``torch.cuda.set_device`` for every launcher and mmdet's runtime asks for the
``nccl`` backend, so ``tools/dist_train.sh CONFIG 2`` fails at start on a
machine without CUDA. :func:`setup_distributed` keeps mmengine's path on GPUs
and, without CUDA, initialises the process group itself with ``gloo`` from
the launcher's environment (torchrun, slurm or Open MPI), before the runner
is built; the runner then finds the group ready and wraps the model in
:class:`~mmdet_vit_transfer.engine.model_wrappers.AnyDeviceDistributedDataParallel`.
"""
import atexit
import datetime
import os
import subprocess
from typing import Callable, Dict, Mapping, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

LAUNCHERS = ('pytorch', 'slurm', 'mpi')
#: Backends that run on CPU tensors; ``nccl`` needs CUDA.
CPU_BACKENDS = ('gloo', 'mpi')
DEFAULT_MASTER_PORT = '29500'
#: The runner looks wrappers up in mmengine's registry, so name the scope.
CPU_MODEL_WRAPPER = 'mmdet.AnyDeviceDistributedDataParallel'


def resolve_dist_backend(requested: Optional[str],
                         cuda_available: bool) -> str:
    """The ``torch.distributed`` backend to use.

    Args:
        requested (str | None): ``env_cfg.dist_cfg.backend`` of the config
            (mmdet's runtime sets ``'nccl'``); None means ``'nccl'``.
        cuda_available (bool): Whether this process can use CUDA.

    Returns:
        str: ``requested`` when it can run here, ``'gloo'`` when ``nccl`` was
        asked for on a machine without CUDA.
    """
    backend = requested or 'nccl'
    if not cuda_available and backend not in CPU_BACKENDS:
        return 'gloo'
    return backend


def dist_env_from_launcher(
        launcher: str,
        environ: Mapping[str, str],
        first_host: Callable[[str], str] = None) -> Dict[str, str]:
    """``torch.distributed`` environment variables for a launcher.

    The same mapping as mmengine's ``init_dist`` (``MASTER_PORT`` defaults to
    29500; an existing ``MASTER_ADDR`` wins over the slurm node list).

    Args:
        launcher (str): ``'pytorch'`` (torchrun sets everything), ``'slurm'``
            (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``,
            ``SLURM_NODELIST``) or ``'mpi'`` (Open MPI's ``OMPI_COMM_WORLD_*``
            and ``MASTER_ADDR``).
        environ (Mapping[str, str]): The process environment.
        first_host (Callable[[str], str], optional): Maps a slurm node list
            to its first host name; defaults to ``scontrol show hostname``.

    Returns:
        dict[str, str]: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
        ``MASTER_ADDR`` and ``MASTER_PORT``.

    Raises:
        ValueError: For an unknown launcher.
        KeyError: If a variable the launcher must set is missing; the message
            names it.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'unknown launcher {launcher!r}; expected one of '
                         f'{LAUNCHERS} (or "none" for one process)')
    sources = {
        'pytorch': dict(RANK='RANK', WORLD_SIZE='WORLD_SIZE',
                        LOCAL_RANK='LOCAL_RANK', MASTER_ADDR='MASTER_ADDR'),
        'slurm': dict(RANK='SLURM_PROCID', WORLD_SIZE='SLURM_NTASKS',
                      LOCAL_RANK='SLURM_LOCALID'),
        'mpi': dict(RANK='OMPI_COMM_WORLD_RANK',
                    WORLD_SIZE='OMPI_COMM_WORLD_SIZE',
                    LOCAL_RANK='OMPI_COMM_WORLD_LOCAL_RANK',
                    MASTER_ADDR='MASTER_ADDR'),
    }[launcher]
    missing = [name for name in sources.values() if name not in environ]
    if launcher == 'slurm' and 'MASTER_ADDR' not in environ and \
            'SLURM_NODELIST' not in environ:
        missing.append('SLURM_NODELIST (or MASTER_ADDR)')
    if missing:
        raise KeyError(
            f'launcher {launcher!r} expects the environment variables '
            f'{", ".join(missing)}, which are not set; start the processes '
            'with tools/dist_train.sh (torchrun), tools/slurm_train.sh (srun) '
            'or mpirun, or use --launcher none for one process')
    env = {key: environ[name] for key, name in sources.items()}
    if 'MASTER_ADDR' not in env:
        env['MASTER_ADDR'] = environ.get('MASTER_ADDR') or (
            first_host or _first_slurm_host)(environ['SLURM_NODELIST'])
    env['MASTER_PORT'] = environ.get('MASTER_PORT', DEFAULT_MASTER_PORT)
    return env


def _first_slurm_host(node_list: str) -> str:
    """The first host of a slurm node list (``gpu[01-04]`` -> ``gpu01``)."""
    try:
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', node_list],
                               capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(
            f'cannot expand SLURM_NODELIST={node_list!r} with scontrol '
            f'({error}); set MASTER_ADDR to the first node') from error
    if not hosts:
        raise RuntimeError(f'scontrol lists no host for {node_list!r}; set '
                           'MASTER_ADDR to the first node')
    return hosts[0]


def setup_distributed(cfg: Config) -> None:
    """Prepare ``cfg`` (and, without CUDA, the process group) for training
    or testing with ``cfg.launcher``.

    With one process (``launcher='none'``) or with CUDA nothing changes:
    mmengine initialises the group with the configured backend (``nccl``).
    Without CUDA, the backend becomes ``gloo`` (when ``nccl`` was configured)
    and is written back to ``cfg.env_cfg.dist_cfg``, the process group is
    initialised here from the launcher's environment, and the model wrapper
    becomes :class:`AnyDeviceDistributedDataParallel` (mmengine's would pass
    a GPU id to a CPU model).

    Args:
        cfg (Config): The full config, with ``launcher`` set; modified in
            place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    requested = dist_cfg.pop('backend', None) or 'nccl'
    backend = resolve_dist_backend(requested, cuda_available=False)
    env_cfg['dist_cfg'] = dict(dist_cfg, backend=backend)
    use_any_device_wrapper(cfg)
    if dist.is_initialized():
        return
    init_backend = dist_cfg.pop('init_backend', 'torch')
    if init_backend != 'torch':
        raise ValueError(
            f"dist_cfg.init_backend={init_backend!r} needs CUDA; without it "
            "only 'torch' is supported")
    os.environ.update(dist_env_from_launcher(launcher, os.environ))
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend=backend, init_method='env://', **dist_cfg)
    atexit.register(destroy_process_group)
    if backend != requested:
        print_log(
            f'CUDA is not available: distributed backend {backend!r} '
            f'instead of the configured {requested!r}', logger='current')


def destroy_process_group() -> None:
    """Destroy the process group, if any, before the interpreter exits.

    Left to interpreter shutdown, a gloo group's threads can abort a process
    whose run has finished ("terminate called without an active exception",
    exit status -6), and torchrun then reports the whole run as failed.
    """
    if dist.is_initialized():
        dist.destroy_process_group()


def use_any_device_wrapper(cfg: Config) -> None:
    """Make ``cfg.model_wrapper_cfg`` AnyDeviceDistributedDataParallel,
    unless the config picked a wrapper other than mmengine's DDP (FSDP...).

    Args:
        cfg (Config): The full config; modified in place. Without a
            ``model_wrapper_cfg``, the runner's defaults are spelled out
            (``broadcast_buffers=False`` and the config's
            ``find_unused_parameters``).
    """
    wrapper = cfg.get('model_wrapper_cfg')
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type=CPU_MODEL_WRAPPER,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    elif wrapper.get('type', 'MMDistributedDataParallel') == \
            'MMDistributedDataParallel':
        wrapper['type'] = CPU_MODEL_WRAPPER
