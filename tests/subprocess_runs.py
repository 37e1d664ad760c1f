"""Subprocesses for end-to-end tests: each starts in its own process group,
and the whole group is killed when the test ends, on timeout or on failure.

``mim train`` and ``torchrun`` start the training processes as their
children (and those start dataloader workers); killing only the process a
test started leaves the training running and slowing every later test.
"""
import os
import signal
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

#: Seconds a test waits for one end-to-end command on an idle 2-core machine
#: times this factor: the suites must pass with a second one running beside.
LOAD_FACTOR = 3


def start(cmd: Sequence[str], log_path=None, **kwargs) -> subprocess.Popen:
    """Start ``cmd`` in a new process group (session), with Ctrl-C (SIGINT)
    handled as in a terminal even when the tests themselves run with it
    ignored, as a background job of a non-interactive shell does.

    Args:
        cmd (Sequence[str]): The command.
        log_path (str | Path, optional): File that receives stdout and
            stderr together; without it both are captured as text.
        **kwargs: More :class:`subprocess.Popen` arguments (cwd, env).
    """
    kwargs = dict(start_new_session=True, preexec_fn=default_sigint,
                  **kwargs)
    if log_path is not None:
        with open(log_path, 'w') as log:
            return subprocess.Popen(list(map(str, cmd)), stdout=log,
                                    stderr=subprocess.STDOUT, **kwargs)
    return subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def default_sigint() -> None:
    """In the child before it runs: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Send ``sig`` to every process of ``proc``'s group (those still
    alive, orphans included)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended: there is no such process, or it
    is a zombie of another parent than this one. A zombie of another parent
    is accepted: once its parent exits, only PID 1 can reap it, and in a
    container PID 1 often reaps nothing. A zombie of the test process would
    be the test's own unreaped child, and is not."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return True
    state, ppid = stat.rsplit(')', 1)[1].split()[:2]
    return state == 'Z' and int(ppid) != os.getpid()


def group_gone(pgid: int) -> bool:
    """Whether every process of group ``pgid`` has ended (:func:`gone`)."""
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and not gone(int(entry.name)):
            return False
    return True


def wait(proc: subprocess.Popen, timeout: float) -> Optional[str]:
    """Wait for ``proc``, then kill what is left of its group.

    Returns:
        str | None: Its output, if it was captured.

    Raises:
        subprocess.TimeoutExpired: After ``timeout`` seconds; the group is
            killed first.
    """
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
        if proc.poll() is None:
            proc.wait()
    return out


def run(cmd: Sequence[str], timeout: float, **kwargs) -> 'Result':
    """Run ``cmd`` to its end in its own process group.

    Returns:
        Result: Its return code and its output (stdout and stderr).
    """
    proc = start(cmd, **kwargs)
    output = wait(proc, timeout)
    return Result(proc.returncode, output)


class Result:
    """A finished command: ``returncode`` and ``output`` (stdout and stderr
    interleaved)."""

    def __init__(self, returncode: int, output: str):
        self.returncode, self.output = returncode, output

    @property
    def last_line(self) -> str:
        lines: List[str] = self.output.rstrip().splitlines()
        return lines[-1] if lines else ''
