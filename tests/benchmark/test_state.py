"""The benchmark's state file and lock: a full disk keeps the previous
state, a second launcher is refused, a config that does not load is a
recorded failure that is not retried forever."""
import errno
import os
import socket

import pytest

from mmdet_vit_transfer.benchmark import LocalBackend, launch, plan_runs
from mmdet_vit_transfer.benchmark.lock import (LauncherBusyError,
                                               LauncherLock, lock_holder)
from mmdet_vit_transfer.benchmark.state import (Attempt, BenchmarkState,
                                                RunRecord, StateFile,
                                                StateWriteError)
from mmdet_vit_transfer.engine.atomic_files import atomic_write


def full_disk(path, text):
    """Write as the state file does, on a disk that fills up mid-write."""
    with atomic_write(path, 'w') as f:
        f.write(text[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_state_round_trip(tmp_path):
    state = BenchmarkState(runs={'a': RunRecord(
        status='failed', stages=['a'], gave_up='failed the same way twice',
        attempts=[Attempt('slurm', '17', 'then', 'epoch_1.pth', 'later',
                          'failed', 'exit status 1: error: x', ['x'])])})
    file = StateFile(tmp_path / 'benchmark.json')
    file.save(state)
    assert file.load() == state
    assert StateFile(tmp_path / 'none.json').load().runs == {}
    (tmp_path / 'other.json').write_text('{"x": 1}')
    with pytest.raises(Exception, match='is not a benchmark state'):
        StateFile(tmp_path / 'other.json').load()


def test_a_full_disk_keeps_the_previous_state(tmp_path):
    path = tmp_path / 'benchmark.json'
    StateFile(path).save(BenchmarkState(runs={'a': RunRecord()}))
    before = path.read_bytes()
    state = StateFile(path).load()
    state.runs['a'].status = 'running'
    with pytest.raises(StateWriteError,
                       match='No space left on device. The file keeps the '
                       'state saved at 20'):
        StateFile(path, write=full_disk).save(state)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['benchmark.json']


def test_one_launcher_at_a_time(tmp_path):
    lock = tmp_path / 'launcher.lock'
    assert lock_holder(lock) is None
    with LauncherLock(lock):
        holder = f'pid {os.getpid()} on host {socket.gethostname()} since'
        assert lock_holder(lock).startswith(holder)
        with pytest.raises(LauncherBusyError,
                           match=f'another launcher is running this '
                           f'benchmark \\({holder}'):
            with LauncherLock(lock):
                pass
        with pytest.raises(LauncherBusyError):
            launch(tmp_path, [], LocalBackend())
    # Released when the block ends (and when its process dies).
    assert lock_holder(lock) is None
    with LauncherLock(lock):
        pass


def test_a_config_that_does_not_load_fails_twice_then_stays_failed(
        tmp_path):
    config = tmp_path / 'broken_vittiny_maskrcnn_1e.py'
    config.write_text("_base_ = 'no_such_base.py'\n")
    runs = plan_runs([config])
    bench = tmp_path / 'bench'
    said = []
    result = launch(bench, runs, LocalBackend(), say=said.append)
    assert result.statuses == {'broken_vittiny_maskrcnn_1e': 'failed'}
    record = StateFile(bench / 'benchmark.json').load().runs[
        'broken_vittiny_maskrcnn_1e']
    assert record.attempts[0].reason.startswith(
        'not submitted: error: cannot load the config of '
        'broken_vittiny_maskrcnn_1e: FileNotFoundError')
    assert record.gave_up is None

    # A full disk: the launch stops before submitting anything, and the
    # state on disk is the one before.
    before = (bench / 'benchmark.json').read_bytes()
    log = (bench / 'logs' / 'broken_vittiny_maskrcnn_1e.log').read_text()
    with pytest.raises(StateWriteError, match='cannot save the benchmark '
                       'state to .*benchmark.json: No space left on device'):
        launch(bench, runs, LocalBackend(), write_state=full_disk)
    assert (bench / 'benchmark.json').read_bytes() == before
    assert (bench / 'logs' / 'broken_vittiny_maskrcnn_1e.log').read_text() \
        == log

    launch(bench, runs, LocalBackend(), say=said.append)
    record = StateFile(bench / 'benchmark.json').load().runs[
        'broken_vittiny_maskrcnn_1e']
    assert record.gave_up == 'failed the same way twice'
    said.clear()
    result = launch(bench, runs, LocalBackend(), say=said.append)
    assert result.statuses == {'broken_vittiny_maskrcnn_1e': 'failed'}
    assert said[0].startswith('not retrying broken_vittiny_maskrcnn_1e: '
                              'failed the same way twice (not submitted: ')
    assert len(StateFile(bench / 'benchmark.json').load().runs[
        'broken_vittiny_maskrcnn_1e'].attempts) == 2
    # --retry-failed: one more attempt.
    launch(bench, runs, LocalBackend(), retry_failed=True, say=said.append)
    assert len(StateFile(bench / 'benchmark.json').load().runs[
        'broken_vittiny_maskrcnn_1e'].attempts) == 3
