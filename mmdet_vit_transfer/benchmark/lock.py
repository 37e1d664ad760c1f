"""One launcher per benchmark: ``<bench>/launcher.lock``, held with
``flock`` while a launcher runs, names its process and host.

The kernel drops an ``flock`` when its process ends however it ends, so a
killed launcher never leaves a stale lock behind; the file stays, and its
text is only read to name the holder.
"""
import fcntl
import os
import socket
import sys
from pathlib import Path
from typing import Optional

from ..utils.errors import UserInputError
from .state import now


class LauncherBusyError(UserInputError):
    """Another launcher runs this benchmark."""


def lock_holder(path: Path) -> Optional[str]:
    """Who holds the lock at ``path`` (its text), None when no one does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 4096).decode(errors='replace').strip()
    finally:
        os.close(fd)
    return None


class LauncherLock:
    """Hold ``path`` for the ``with`` block.

    Raises:
        LauncherBusyError: on entry, when another process holds it.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: Optional[int] = None

    def __enter__(self) -> 'LauncherLock':
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors='replace').strip()
            os.close(fd)
            raise LauncherBusyError(
                f'another launcher is running this benchmark ({holder}); '
                f'wait for it to end, or stop it and run this command '
                f'again (lock file {self.path})') from None
        os.ftruncate(fd, 0)
        os.write(fd, (f'pid {os.getpid()} on host {socket.gethostname()} '
                      f'since {now()}: {" ".join(sys.argv)}\n').encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
