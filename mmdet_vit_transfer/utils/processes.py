"""Processes that end with the tool that started them.

On Ctrl-C or SIGTERM a tool of this package ends the processes it started
and waits for them, a bounded time and then with SIGKILL, before it exits:
none of them is left running, nor as a zombie.

* :func:`interruptible` makes SIGTERM stop the tool as Ctrl-C does (a
  :class:`Interrupted`, which is a ``KeyboardInterrupt``).
* :func:`end_process_group` ends a job started in a process group of its
  own: SIGTERM, a grace period, SIGKILL; it returns once no process of the
  group runs and this process has reaped the zombies that are its own.
* :func:`end_children` ends and reaps the direct children of this process
  (dataloader workers, say) that are still there when a tool exits.

A process whose parent exits is handed to the nearest *subreaper*, else to
PID 1, which in a container often reaps nothing; its zombie then stays
until the container ends. A tool that runs jobs of several processes makes
itself a subreaper (:func:`become_subreaper`, Linux), so that the orphans
of its jobs come to it and it reaps them.
"""
import ctypes
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional

#: ``prctl`` option of linux/prctl.h.
PR_SET_CHILD_SUBREAPER = 36
#: Seconds a job gets to end after SIGTERM, before SIGKILL.
GRACE_SECONDS = 10.0
#: Seconds to wait for processes to go after SIGKILL.
KILL_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
#: The exit status of a process stopped by a signal, as a shell reports it.
SIGNAL_EXIT_BASE = 128


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised where the main thread runs.

    Args:
        signum (int): The signal.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """130 for SIGINT, 143 for SIGTERM."""
        return SIGNAL_EXIT_BASE + self.signum


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signum)


@contextmanager
def interruptible(subreaper: bool = False) -> Iterator[None]:
    """Within the block, SIGTERM (and Ctrl-C, unless this process was
    started with SIGINT ignored) raise :class:`Interrupted`.

    Args:
        subreaper (bool): Also make this process the subreaper of its
            descendants (:func:`become_subreaper`), for the rest of its life.
    """
    if subreaper:
        become_subreaper()
    wanted = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        wanted.append(signal.SIGINT)
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM that arrive within the block are raised as
    :class:`Interrupted` once it has run to its end (signals ignored since
    the start of this process stay ignored)."""
    received: List[int] = []

    def remember(signum: int, frame) -> None:
        received.append(signum)

    previous = {
        sig: signal.signal(sig, remember)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise Interrupted(received[0])


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux's
    ``PR_SET_CHILD_SUBREAPER``); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ProcessInfo(NamedTuple):
    """What ``/proc/PID/stat`` says of a process."""
    pid: int
    state: str  #: 'R', 'S', ..., 'Z' for a zombie
    ppid: int
    pgid: int

    @property
    def zombie(self) -> bool:
        return self.state == 'Z'


def process_info(pid: int) -> Optional[ProcessInfo]:
    """``/proc/PID/stat`` of ``pid``; None when there is no such process."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces.
    state, ppid, pgid = stat.rsplit(')', 1)[1].split()[:3]
    return ProcessInfo(pid, state, int(ppid), int(pgid))


def processes() -> List[ProcessInfo]:
    """Every process this one can see."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            info = process_info(int(entry))
            if info is not None:
                found.append(info)
    return found


def group_exists(pgid: int) -> bool:
    """Whether any process (a zombie included) is in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to group ``pgid``, if it still exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def reap_zombies(pgid: Optional[int] = None,
                 spare: frozenset = frozenset()) -> None:
    """Collect the exit status of this process's zombie children (of group
    ``pgid`` only, if given), except the pids in ``spare``: those of
    ``subprocess.Popen`` objects, which read their own status."""
    me = os.getpid()
    for info in processes():
        if (info.ppid == me and info.zombie and info.pid not in spare
                and (pgid is None or info.pgid == pgid)):
            try:
                os.waitpid(info.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def group_ended(pgid: int) -> bool:
    """Whether no process of group ``pgid`` runs and none is a zombie that
    this process must reap (a zombie of another parent is that parent's, or
    PID 1's)."""
    if not group_exists(pgid):
        return True
    me = os.getpid()
    return all(info.zombie and info.ppid != me for info in processes()
               if info.pgid == pgid)


def _wait_group_gone(pgid: int, timeout: float, leader) -> bool:
    """Poll until :func:`group_ended`, reaping what is ours."""
    deadline = time.monotonic() + timeout
    spare = frozenset() if leader is None else frozenset({leader.pid})
    while True:
        if leader is not None:
            leader.poll()
        reap_zombies(pgid, spare)
        if group_ended(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def end_process_group(pgid: int, grace: float = GRACE_SECONDS,
                      leader=None) -> bool:
    """End every process of group ``pgid`` and wait until none is left
    (:func:`group_ended`).

    SIGTERM, then up to ``grace`` seconds for the group to end, then
    SIGKILL and up to :data:`KILL_WAIT_SECONDS` more. Zombies that are this
    process's children (the leader, and orphans when this process is a
    subreaper) are reaped on the way; a subreaper thus returns when no
    process of the group exists at all.

    Args:
        pgid (int): The group (the pid of its leader).
        grace (float): Seconds between SIGTERM and SIGKILL.
        leader (subprocess.Popen, optional): The leader, if this process
            started it: it is reaped through the ``Popen``, which keeps its
            exit status.

    Returns:
        bool: True once the group has ended; False if a process of it
        still runs after the waits.
    """
    if group_ended(pgid):
        return True
    signal_group(pgid, signal.SIGTERM)
    if _wait_group_gone(pgid, grace, leader):
        return True
    signal_group(pgid, signal.SIGKILL)
    return _wait_group_gone(pgid, KILL_WAIT_SECONDS, leader)


def end_children(grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the children of this process that are still running, wait
    up to ``grace`` seconds, SIGKILL the rest and reap them all."""
    me = os.getpid()

    def running_children():
        return [p.pid for p in processes() if p.ppid == me and not p.zombie]

    children = running_children()
    for sig, timeout in ((signal.SIGTERM, grace),
                         (signal.SIGKILL, KILL_WAIT_SECONDS)):
        for pid in children:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            reap_zombies()
            children = running_children()
            if not children or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        if not children:
            return
