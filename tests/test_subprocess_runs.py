"""The subprocess helper of the end-to-end tests leaves no process behind."""
import os
import subprocess
import time

import pytest
from subprocess_runs import run


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of an exited parent may linger as a zombie of init.
    with open(f'/proc/{pid}/stat') as f:
        return f.read().split()[2] != 'Z'


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
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)


def test_output_and_status_come_back():
    result = run(['bash', '-c', 'echo one; echo two >&2; exit 3'], timeout=30)
    assert result.returncode == 3
    assert result.output.split() == ['one', 'two']
    assert result.last_line == 'two'
