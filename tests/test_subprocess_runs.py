"""The subprocess helper of the end-to-end tests leaves no process behind."""
import subprocess
import time

import pytest
from subprocess_runs import gone, run


def test_a_timeout_kills_the_children_too(tmp_path):
    pid_file = tmp_path / 'grandchild.pid'
    # A parent (like mim) whose child (like train.py) outlives its wait.
    script = f'sleep 300 & echo $! > {pid_file}; wait'
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run(['bash', '-c', script], timeout=2)
    assert time.monotonic() - started < 30
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    # Killed, its parent gone: a zombie of PID 1 at most (gone() says why
    # that is accepted).
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(grandchild)


def test_output_and_status_come_back():
    result = run(['bash', '-c', 'echo one; echo two >&2; exit 3'], timeout=30)
    assert result.returncode == 3
    assert result.output.split() == ['one', 'two']
    assert result.last_line == 'two'
