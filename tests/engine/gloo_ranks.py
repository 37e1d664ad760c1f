"""Run a function on two gloo processes and collect what each returns.

The processes are forked from the test process, so they start in
milliseconds instead of re-importing mmdet; they only run small tensors
(no intra-op thread pool), which is what makes forking after torch safe.
"""
import multiprocessing as mp
import os
import socket
import traceback

import torch
import torch.distributed as dist

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _to_numpy(value):
    """Tensors as numpy copies: a tensor sent through a queue lives in the
    sender's shared memory, gone once the worker exits."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(item) for item in value)
    return value


def _worker(rank, port, init_group, target, args, queue):
    # The parent's OpenMP thread pool does not survive fork(): a parallel
    # region in the child would wait for its threads forever.
    torch.set_num_threads(1)
    try:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        if init_group:
            os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank),
                              WORLD_SIZE=str(WORLD_SIZE))
            dist.init_process_group('gloo', rank=rank,
                                    world_size=WORLD_SIZE)
        result = target(rank, *args)
        if dist.is_initialized():
            dist.destroy_process_group()
        queue.put((rank, 'ok', _to_numpy(result)))
    except BaseException:  # report everything, the parent asserts
        queue.put((rank, 'error', traceback.format_exc()))


def run_on_two_ranks(target, *args, init_group=True, timeout: float = 120):
    """Call ``target(rank, *args)`` in two forked gloo processes.

    ``MASTER_ADDR`` and ``MASTER_PORT`` are set; with ``init_group=False``
    initialising the process group is left to the target.

    Returns:
        list: What each rank returned (picklable; tensors become numpy
        arrays), by rank.

    Raises:
        AssertionError: With the worker's traceback if one failed.
    """
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(target=_worker,
                    args=(rank, port, init_group, target, args, queue))
        for rank in range(WORLD_SIZE)
    ]
    for p in procs:
        p.start()
    results = {}
    try:
        for _ in procs:
            rank, status, value = queue.get(timeout=timeout)
            assert status == 'ok', f'rank {rank} failed:\n{value}'
            results[rank] = value
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return [results[rank] for rank in range(WORLD_SIZE)]
