import multiprocessing as mp
import os
import signal

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint

from mmdet_vit_transfer.engine.atomic_files import (ATOMIC_BACKEND,
                                                    AtomicLocalBackend,
                                                    atomic_write,
                                                    partial_path,
                                                    stale_partials)
from mmdet_vit_transfer.utils import is_complete_checkpoint

GOOD = b'the last good checkpoint ' * 1000


def test_writes_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'sub' / 'epoch_1.pth'
    with atomic_write(path) as f:
        f.write(b'abc')
    assert path.read_bytes() == b'abc'
    assert sorted(p.name for p in path.parent.iterdir()) == ['epoch_1.pth']
    with atomic_write(path, 'w', encoding='utf-8') as f:
        f.write('text')
    assert path.read_text() == 'text'


def test_an_error_while_writing_keeps_the_old_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(GOOD)
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_write(path) as f:
            f.write(b'half a checkpoint')
            raise RuntimeError('disk full')
    assert path.read_bytes() == GOOD
    assert stale_partials(path) == []


def test_a_killed_writers_leftover_is_removed_by_the_next_write(tmp_path):
    path = tmp_path / 'epoch_2.pth'
    leftover = path.with_name('.epoch_2.pth.99999.partial')
    leftover.write_bytes(b'truncated')
    other = tmp_path / '.epoch_3.pth.99999.partial'
    other.write_bytes(b'another file\'s')
    assert stale_partials(path) == [leftover]
    with atomic_write(path) as f:
        f.write(b'new')
    assert not leftover.exists() and other.exists()


def test_wrong_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'a'"):
        with atomic_write(tmp_path / 'x', 'a'):
            pass


def _write_half_then_wait(path, atomic, ready):
    half = b'N' * (len(GOOD) // 2)
    opener = atomic_write(path) if atomic else open(path, 'wb')
    with opener as f:
        f.write(half)
        f.flush()
        ready.set()
        signal.pause()  # killed here, in the middle of the write


def kill_during_write(path, atomic):
    """SIGKILL a process half-way through rewriting ``path``."""
    ctx = mp.get_context('fork')
    ready = ctx.Event()
    writer = ctx.Process(target=_write_half_then_wait,
                         args=(path, atomic, ready))
    writer.start()
    assert ready.wait(timeout=60), 'the writer did not start writing'
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(timeout=60)
    assert writer.exitcode == -signal.SIGKILL


def test_sigkill_while_writing_keeps_the_last_good_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(GOOD)
    kill_during_write(path, atomic=True)
    assert path.read_bytes() == GOOD
    # The half-written temporary file is left next to it, and goes away with
    # the next write.
    assert len(stale_partials(path)) == 1
    with atomic_write(path) as f:
        f.write(b'next')
    assert stale_partials(path) == []


def test_sigkill_while_writing_in_place_truncates(tmp_path):
    """What the atomic write prevents: mmengine's plain ``open('wb')``."""
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(GOOD)
    kill_during_write(path, atomic=False)
    assert path.read_bytes() == b'N' * (len(GOOD) // 2)


def test_mmengine_writes_checkpoints_through_the_backend(tmp_path):
    backend_args = dict(backend=ATOMIC_BACKEND)
    backend = get_file_backend(str(tmp_path), backend_args=backend_args)
    assert isinstance(backend, AtomicLocalBackend)
    path = str(tmp_path / 'epoch_3.pth')
    save_checkpoint({'state_dict': {'w': torch.arange(3.0)}}, path,
                    backend_args=backend_args)
    assert is_complete_checkpoint(path)
    assert torch.equal(
        torch.load(path, weights_only=True)['state_dict']['w'],
        torch.arange(3.0))
    backend.put_text('epoch_3.pth', str(tmp_path / 'last_checkpoint'))
    assert (tmp_path / 'last_checkpoint').read_text() == 'epoch_3.pth'
    assert not partial_path(path).exists()
