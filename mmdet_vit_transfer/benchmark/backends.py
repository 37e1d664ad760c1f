"""Where a run's job runs: ``local`` (a process group on this machine) or
``slurm`` (one ``sbatch`` job per run); :class:`DryRunBackend` says how
either would submit a job and starts nothing.

A job is a bash script (:mod:`.jobs`) whose training commands come from the
backend: ``tools/train.py`` (or ``tools/dist_train.sh`` for several local
GPUs) locally, the package's ``tools/slurm_train.sh`` on Slurm, which starts
the training processes with ``srun`` and ``--launcher slurm``. A backend
submits a job, says whether it still runs and how it ended (a
:class:`JobEnd`), and cancels it; it identifies a job by a string that the
state file keeps, so a launcher started later follows the jobs of one that
was killed. A backend whose jobs are ``detached`` keeps them running when
the launcher stops.

The Slurm backend calls ``sbatch``, ``squeue``, ``sacct`` and ``scancel``
itself rather than through submitit. submitit runs a pickled Python
callable, by default inside its own ``srun`` step, where our job is a shell
script that calls ``srun`` itself (as ``slurm_train.sh`` does); and it reads
job states with ``sacct``, which needs Slurm's accounting database: without
one (the tests' one-node cluster, many small clusters) a cancelled job stays
``UNKNOWN``, which submitit counts as not finished, forever. ``squeue
--states=all`` needs no accounting and knows a job until ``MinJobAge``
after its end; ``sacct`` is asked only about older jobs.
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import mmdet_vit_transfer
from ..utils.errors import UserInputError
from ..utils.processes import end_process_group

#: The package's tools (a link to the repository's ``tools`` in a clone).
TOOLS = Path(mmdet_vit_transfer.__file__).parent / '.mim' / 'tools'
#: Slurm job states of a job that has not ended.
SLURM_ACTIVE = ('PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING',
                'SUSPENDED', 'REQUEUED', 'RESIZING', 'REQUEUE_HOLD',
                'REQUEUE_FED', 'STAGE_OUT', 'SIGNALING')
#: Why Slurm ended a job, for the states that say more than an exit code.
SLURM_CAUSES = {
    'CANCELLED': 'cancelled (scancel)',
    'TIMEOUT': 'over its time limit',
    'OUT_OF_MEMORY': 'out of memory',
    'NODE_FAIL': 'its node failed',
    'PREEMPTED': 'preempted',
    'BOOT_FAIL': 'its node failed to boot',
    'DEADLINE': 'past its deadline',
}


@dataclass(frozen=True)
class JobEnd:
    """How a job ended.

    Args:
        exit_code (int, optional): its exit status; None when a signal
            ended it or the status is unknown.
        signal (int, optional): the signal that ended it.
        job (str, optional): how the scheduler names the job
            (``'Slurm job 12'``), None for a local job.
        state (str, optional): the scheduler's final state (``'FAILED'``).
        cause (str, optional): why the scheduler ended it, or why nothing
            is known of it; set, it is the whole description.
    """
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    job: Optional[str] = None
    state: Optional[str] = None
    cause: Optional[str] = None

    @classmethod
    def from_returncode(cls, returncode: int, **kwargs) -> 'JobEnd':
        """From ``Popen.returncode`` (negative: the signal)."""
        if returncode < 0:
            return cls(signal=-returncode, **kwargs)
        return cls(exit_code=returncode, **kwargs)

    @classmethod
    def from_wait_status(cls, status: int, **kwargs) -> 'JobEnd':
        """From a ``wait()`` status, as ``squeue`` reports it."""
        if status & 0x7f:
            return cls(signal=status & 0x7f, **kwargs)
        return cls(exit_code=status >> 8, **kwargs)

    @property
    def succeeded(self) -> bool:
        """Exit status 0, not ended by a signal or the scheduler."""
        return self.exit_code == 0 and self.signal is None and \
            self.cause is None

    def __str__(self) -> str:
        if self.cause:
            return f'{self.job} {self.cause}' if self.job else self.cause
        if self.signal is not None:
            how = f'killed by {_signal_name(self.signal)}'
        elif self.exit_code is not None:
            how = f'exit status {self.exit_code}'
        else:
            how = 'exit status unknown'
        who = ' '.join(part for part in (self.job, self.state) if part)
        return f'{who}, {how}' if who else how


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f'signal {signum}'


@dataclass(frozen=True)
class JobState:
    """What a backend says of a job.

    Args:
        state (str): the scheduler's state (``PENDING``, ``RUNNING``,
            ``FAILED`` ...), ``RUNNING`` or ``ENDED`` for a local job,
            ``UNKNOWN`` when the scheduler no longer knows it.
        reason (str): why it waits (``Resources``, ``Priority``), or ''.
        end (JobEnd, optional): how it ended, once it has.
    """
    state: str
    reason: str = ''
    end: Optional[JobEnd] = None

    @property
    def active(self) -> bool:
        return self.end is None

    def describe(self) -> str:
        """``'PENDING (Resources)'``, ``'RUNNING'``, ``'Slurm job 7
        FAILED, exit status 1'``."""
        if self.end is not None:
            return str(self.end)
        if self.reason and self.reason != 'None':
            return f'{self.state} ({self.reason})'
        return self.state


class LocalBackend:
    """Runs jobs on this machine, each in its own process group, one at a
    time (or ``parallel`` at a time).

    Stopping a job (:meth:`cancel`) ends its whole process group and
    returns once no process of it exists (:func:`~mmdet_vit_transfer.utils.
    processes.end_process_group`).

    Args:
        gpus (int): GPUs a run trains on; more than one starts
            ``tools/dist_train.sh`` with one process each.
        parallel (int): jobs at a time, on CPUs only; each gets an equal
            share of the cores as its threads (``OMP_NUM_THREADS``, unless
            set).
    """
    name = 'local'
    detached = False

    def __init__(self, gpus: int = 0, parallel: int = 1):
        if parallel < 1 or (parallel > 1 and gpus):
            raise UserInputError(
                f'parallel must be 1 with GPUs and at least 1 without, got '
                f'{parallel} with gpus={gpus}')
        self.gpus, self.parallel = gpus, parallel
        self._children: Dict[str, subprocess.Popen] = {}

    def train_command(self, stage: str, config: Path, work_dir: Path,
                      resume: Optional[str]) -> List[str]:
        """Train ``config``, resuming from the checkpoint ``resume``."""
        if self.gpus > 1:
            cmd = [str(TOOLS / 'dist_train.sh'), str(config), str(self.gpus)]
        else:
            cmd = [sys.executable, str(TOOLS / 'train.py'), str(config)]
        return cmd + ['--work-dir', str(work_dir)] + _resume_args(resume)

    def environment(self) -> List[str]:
        """Shell lines that set up a job's environment."""
        lines = [f'export PYTHON={shlex.quote(sys.executable)}']
        if self.parallel > 1:
            threads = max(1, (os.cpu_count() or 1) // self.parallel)
            lines.append('export OMP_NUM_THREADS=${OMP_NUM_THREADS:-'
                         f'{threads}}}')
        return lines

    def submit_command(self, run: str, script: Path, log: Path) -> str:
        """What :meth:`submit` runs, as a shell command."""
        return f'bash {shlex.quote(str(script))} >> {shlex.quote(str(log))}'

    def submit(self, run: str, script: Path, log: Path) -> str:
        """Start ``bash script`` appending to ``log``; returns
        ``'host:pid:start time'``."""
        with open(log, 'a') as out:
            proc = subprocess.Popen(['bash', str(script)], stdout=out,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)
        job = f'{socket.gethostname()}:{proc.pid}:{_start_time(proc.pid)}'
        self._children[job] = proc
        return job

    def poll(self, job: str) -> Optional[JobEnd]:
        """None while ``job`` runs, else how it ended. Processes of its
        group that outlive the job's script are ended first."""
        pid = self._own_pid(job)
        child = self._children.get(job)
        if child is not None:
            if child.poll() is None:
                return None
            end_process_group(pid, leader=child)
            return JobEnd.from_returncode(child.returncode)
        return self.job_states([job])[job].end

    def cancel(self, job: str) -> None:
        """End the job's process group (SIGTERM, SIGKILL after a grace
        period) and wait until none of its processes exists."""
        pid = self._own_pid(job)
        child = self._children.get(job)
        if child is None and _start_time(pid) != job.split(':')[2]:
            return  # ended, and its pid may be another process's now
        end_process_group(pid, leader=child)

    @staticmethod
    def _own_pid(job: str) -> int:
        """The pid of a job of this host."""
        host, pid, _ = job.split(':')
        if host != socket.gethostname():
            raise UserInputError(
                f'local job {job} runs on host {host}; follow it from there')
        return int(pid)

    @staticmethod
    def describe(job: str) -> str:
        return f'pid {job.split(":")[1]}'

    @classmethod
    def job_states(cls, jobs: Sequence[str]) -> Dict[str, JobState]:
        """Whether each job (of this host) still runs: its process, with
        the start time that the job id records."""
        states = {}
        for job in jobs:
            pid, started = cls._own_pid(job), job.split(':')[2]
            states[job] = JobState('RUNNING') if _start_time(pid) == \
                started else JobState('ENDED', end=JobEnd(
                    cause='ended while no launcher watched it (exit status '
                    'unknown)'))
        return states


def _resume_args(checkpoint: Optional[str]) -> List[str]:
    """mmdet's ``--resume CHECKPOINT``; nothing to start from scratch (a
    bare ``--resume`` would also drop a ``load_from``)."""
    return ['--resume', checkpoint] if checkpoint else []


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks since boot), '' when
    there is no such process or it has ended (a zombie): a pid with another
    start time is another process."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return ''
    fields = stat.rsplit(')', 1)[1].split()
    return '' if fields[0] == 'Z' else fields[19]


@dataclass
class SlurmBackend:
    """One ``sbatch`` job per run, all submitted at once.

    Args:
        partition (str): the partition (``sbatch -p`` and
            ``slurm_train.sh``'s PARTITION).
        nodes (int): nodes per job.
        gpus_per_node (int): GPUs per node, one training process each; 0
            runs ``tasks_per_node`` CPU processes (gloo).
        tasks_per_node (int): CPU processes per node when there is no GPU.
        cpus_per_task (int): cores per training process.
        time (str, optional): the job's time limit, as ``sbatch --time``.
        sbatch_args (list[str]): more ``sbatch`` options, e.g.
            ``['--account=det', '--qos=high']``.
    """
    partition: str
    nodes: int = 1
    gpus_per_node: int = 8
    tasks_per_node: int = 1
    cpus_per_task: int = 5
    time: Optional[str] = None
    sbatch_args: Sequence[str] = field(default_factory=list)
    name = 'slurm'
    parallel = None
    detached = True

    @property
    def tasks(self) -> int:
        per_node = self.gpus_per_node or self.tasks_per_node
        return self.nodes * per_node

    def train_command(self, stage: str, config: Path, work_dir: Path,
                      resume: Optional[str]) -> List[str]:
        """Train ``config``, resuming from the checkpoint ``resume``."""
        return [str(TOOLS / 'slurm_train.sh'), self.partition, stage,
                str(config), str(work_dir)] + _resume_args(resume)

    def environment(self) -> List[str]:
        """Shell lines that set up a job's environment: what
        ``slurm_train.sh`` reads, and a rendezvous port of its own for each
        job, as jobs may share a node."""
        return [
            f'export PYTHON={shlex.quote(sys.executable)} GPUS={self.tasks} '
            f'GPUS_PER_NODE={self.gpus_per_node} '
            f'TASKS_PER_NODE={self.tasks_per_node} '
            f'CPUS_PER_TASK={self.cpus_per_task}',
            'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 40000))',
        ]

    def sbatch_command(self, run: str, script: Path, log: Path) -> List[str]:
        per_node = self.gpus_per_node or self.tasks_per_node
        cmd = ['sbatch', '--parsable', f'--job-name={run}',
               f'--partition={self.partition}', f'--nodes={self.nodes}',
               f'--ntasks-per-node={per_node}',
               f'--cpus-per-task={self.cpus_per_task}', f'--output={log}',
               '--open-mode=append']
        if self.gpus_per_node:
            cmd.append(f'--gres=gpu:{self.gpus_per_node}')
        if self.time:
            cmd.append(f'--time={self.time}')
        return cmd + list(self.sbatch_args) + [str(script)]

    def submit_command(self, run: str, script: Path, log: Path) -> str:
        """What :meth:`submit` runs, as a shell command."""
        return ' '.join(map(shlex.quote, self.sbatch_command(run, script,
                                                             log)))

    def submit(self, run: str, script: Path, log: Path) -> str:
        """``sbatch`` the job; returns its id.

        Raises:
            UserInputError: sbatch refused it (its message is given).
        """
        result = _slurm(self.sbatch_command(run, script, log))
        if result.returncode != 0:
            raise UserInputError(
                f'sbatch refused the job of run {run}: '
                f'{result.stderr.strip() or result.stdout.strip()}')
        return result.stdout.strip().split(';')[0]

    def poll(self, job: str) -> Optional[JobEnd]:
        """None while the job is queued or runs, else how it ended."""
        return self.job_states([job])[job].end

    def cancel(self, job: str) -> None:
        _slurm(['scancel', job])

    @staticmethod
    def describe(job: str) -> str:
        return f'Slurm job {job}'

    @classmethod
    def job_states(cls, jobs: Sequence[str]) -> Dict[str, JobState]:
        """What Slurm says of each job: ``squeue --states=all`` (pending,
        running and recently ended jobs), then ``sacct`` for the ones
        ``squeue`` has forgotten."""
        states: Dict[str, JobState] = {}
        if not jobs:
            return states
        result = _slurm(['squeue', '--noheader', '--states=all',
                         '--jobs=' + ','.join(jobs),
                         '--Format=JobID:|,State:|,Reason:|,exit_code:|'])
        for line in result.stdout.splitlines():
            job, state, reason, status = line.split('|')[:4]
            end = None if state in SLURM_ACTIVE else _slurm_end(
                job, state, JobEnd.from_wait_status(int(status)))
            states[job] = JobState(state, reason, end)
        missing = [job for job in jobs if job not in states]
        if missing:
            states.update(_sacct_states(missing))
        return states


def _slurm_end(job: str, state: str, end: JobEnd) -> JobEnd:
    """``end`` named as Slurm's job ``job`` in ``state``."""
    return JobEnd(end.exit_code, end.signal, SlurmBackend.describe(job), state,
                  SLURM_CAUSES.get(state))


def _sacct_states(jobs: Sequence[str]) -> Dict[str, JobState]:
    """States of jobs that ``squeue`` no longer knows, from the accounting
    database; ``UNKNOWN`` where there is none."""
    result = _slurm(['sacct', '--noheader', '--parsable2', '--allocations',
                     '--jobs=' + ','.join(jobs),
                     '--format=JobID,State,ExitCode'])
    states = {}
    for line in result.stdout.splitlines():
        job, state, exit_code = line.split('|')[:3]
        state = state.split()[0]  # 'CANCELLED by 0'
        code, sig = (int(v) for v in exit_code.split(':'))
        end = JobEnd(exit_code=None if sig else code, signal=sig or None)
        states[job] = JobState(
            state, '', None if state in SLURM_ACTIVE else _slurm_end(
                job, state, end))
    why = (result.stderr.strip() or 'not in its accounting').splitlines()[0]
    for job in jobs:
        states.setdefault(job, JobState('UNKNOWN', '', JobEnd(
            job=SlurmBackend.describe(job),
            cause=f'is no longer known to Slurm (state unknown: {why})')))
    return states


def _slurm(cmd: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True,
                              timeout=120)
    except FileNotFoundError:
        raise UserInputError(
            f'{cmd[0]} is not installed here: the slurm backend runs on a '
            'Slurm login node (or use --backend local)') from None


class DryRunBackend:
    """Starts nothing: :meth:`submit` says how ``backend`` would submit
    the job and returns None.

    Args:
        backend: the backend whose commands are shown.
        say (callable): where the lines go.
    """

    def __init__(self, backend, say: Callable[[str], None]):
        self.backend, self.say = backend, say
        self.name, self.detached = backend.name, backend.detached
        self.parallel = None
        self.job_states = backend.job_states

    def train_command(self, *args, **kwargs) -> List[str]:
        return self.backend.train_command(*args, **kwargs)

    def environment(self) -> List[str]:
        return self.backend.environment()

    def describe(self, job: str) -> str:
        return self.backend.describe(job)

    def submit(self, run: str, script: Path, log: Path) -> None:
        self.say(f'would submit {run}: '
                 f'{self.backend.submit_command(run, script, log)}')
        return None

    def poll(self, job: str) -> Optional[JobEnd]:
        return self.backend.poll(job)

    def cancel(self, job: str) -> None:
        """A dry run stops nothing."""


#: The backends by the name that the state file records.
BACKENDS = {backend.name: backend for backend in (LocalBackend,
                                                   SlurmBackend)}
