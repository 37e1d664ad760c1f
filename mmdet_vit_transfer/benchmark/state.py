"""The benchmark's state: one JSON file, ``<bench>/benchmark.json``, saved
after every change (a job submitted, a job ended) and replaced atomically,
so a killed launcher or a full disk leaves the previous complete state.

Each run has a status (``pending``, ``running``, ``done``, ``failed``) and
its attempts: the job that ran it, the checkpoint it resumed from and how it
ended (``done``, ``failed`` with the reason and the last lines of its log,
or ``interrupted`` when the launcher stopped it).
"""
import json
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..engine.atomic_files import atomic_write
from ..utils.errors import UserInputError

STATUSES = ('pending', 'running', 'done', 'failed')
VERSION = 1


def now() -> str:
    """The local time, to the second, as the state writes it."""
    return datetime.now().isoformat(timespec='seconds')


@dataclass
class Attempt:
    """One submission of a run.

    Args:
        backend (str): ``'local'`` or ``'slurm'``.
        job (str): the backend's job id.
        started (str): when it was submitted.
        resumed_from (str, optional): checkpoint it resumes from.
        ended (str, optional): when it was seen ending.
        outcome (str, optional): ``'done'``, ``'failed'`` or
            ``'interrupted'`` (stopped by the launcher, not counted as a
            failure).
        reason (str, optional): how it failed, e.g. ``'exit status 1:
            ValueError: ...'``.
        log_tail (list[str]): last lines of its log, when it failed.
    """
    backend: str
    job: str
    started: str
    resumed_from: Optional[str] = None
    ended: Optional[str] = None
    outcome: Optional[str] = None
    reason: Optional[str] = None
    log_tail: List[str] = field(default_factory=list)


@dataclass
class RunRecord:
    """What the launcher knows of one run.

    Args:
        status (str): one of ``STATUSES``.
        stages (list[str]): its stages' names, in order.
        attempts (list[Attempt]): every submission, oldest first.
        gave_up (str, optional): why a failed run is not submitted again.
    """
    status: str = 'pending'
    stages: List[str] = field(default_factory=list)
    attempts: List[Attempt] = field(default_factory=list)
    gave_up: Optional[str] = None

    @property
    def current(self) -> Optional[Attempt]:
        return self.attempts[-1] if self.attempts else None


@dataclass
class BenchmarkState:
    """Every run's record, by name, in launch order."""
    runs: Dict[str, RunRecord] = field(default_factory=dict)
    saved: Optional[str] = None
    host: str = field(default_factory=socket.gethostname)
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + '\n'

    @classmethod
    def from_json(cls, text: str) -> 'BenchmarkState':
        raw = json.loads(text)
        runs = {}
        for name, run in raw.pop('runs').items():
            attempts = [Attempt(**a) for a in run.pop('attempts')]
            runs[name] = RunRecord(attempts=attempts, **run)
        return cls(runs=runs, **raw)


class StateWriteError(UserInputError, OSError):
    """The state could not be saved; the file keeps its previous content."""


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (:func:`atomic_write`)."""
    with atomic_write(path, 'w', encoding='utf-8') as f:
        f.write(text)


class StateFile:
    """Load and save a :class:`BenchmarkState`.

    Args:
        path (Path): the state file.
        write (callable): ``write(path, text)`` that replaces the file
            atomically (default :func:`write_text_atomically`; the tests
            pass one that fails as a full disk does).
    """

    def __init__(self, path: Path,
                 write: Callable[[Path, str], None] = write_text_atomically):
        self.path = Path(path)
        self._write = write

    def load(self) -> BenchmarkState:
        """The saved state, or an empty one when there is no file yet.

        Raises:
            UserInputError: the file is not a state this launcher wrote.
        """
        if not self.path.is_file():
            return BenchmarkState()
        try:
            state = BenchmarkState.from_json(self.path.read_text())
        except (ValueError, TypeError, KeyError) as err:
            raise UserInputError(
                f'{self.path} is not a benchmark state ({err}); give another '
                'work dir, or move it away to start over') from err
        if state.version != VERSION:
            raise UserInputError(f'{self.path} has state version '
                                 f'{state.version}; this launcher reads '
                                 f'{VERSION}')
        return state

    def save(self, state: BenchmarkState) -> None:
        """Write ``state`` (its ``saved`` time is set only once written).

        Raises:
            StateWriteError: the write failed (full disk, no permission);
                the file still holds the previous state.
        """
        previous = state.saved
        state.saved = now()
        try:
            self._write(self.path, state.to_json())
        except OSError as err:
            state.saved = previous
            raise StateWriteError(
                f'cannot save the benchmark state to {self.path}: '
                f'{err.strerror or err}. The file keeps the state saved at '
                f'{previous or "(never saved)"}; free space in '
                f'{self.path.parent} and run the same command again') \
                from err
