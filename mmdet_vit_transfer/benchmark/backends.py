"""Where a run's job runs: ``local`` (a process group on this machine) or
``slurm`` (one ``sbatch`` job per run).

A job is a bash script (:mod:`.jobs`) whose training commands come from the
backend: ``tools/train.py`` (or ``tools/dist_train.sh`` for several local
GPUs) locally, the package's ``tools/slurm_train.sh`` on Slurm, which starts
the training processes with ``srun`` and ``--launcher slurm``. A backend
submits a job, says whether it still runs and how it ended, and cancels it;
it identifies a job by a string that the state file keeps, so a launcher
started later follows the jobs of one that was killed.

The Slurm backend calls ``sbatch``, ``scontrol`` and ``scancel`` itself
rather than through submitit. submitit runs a pickled Python callable, by
default inside its own ``srun`` step, where our job is a shell script that
calls ``srun`` itself (as ``slurm_train.sh`` does); and it reads job states
with ``sacct``, which needs Slurm's accounting database: without one
(the tests' one-node cluster, many small clusters) a cancelled job stays
``UNKNOWN``, which submitit counts as not finished, forever. ``scontrol``
needs no accounting.
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import mmdet_vit_transfer
from ..utils.errors import UserInputError

#: The package's tools (a link to the repository's ``tools`` in a clone).
TOOLS = Path(mmdet_vit_transfer.__file__).parent / '.mim' / 'tools'
#: Slurm job states of a job that has not ended.
SLURM_ACTIVE = ('PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING',
                'SUSPENDED', 'REQUEUED', 'RESIZING')
SLURM_REASONS = {
    'CANCELLED': 'cancelled (scancel)',
    'TIMEOUT': 'over its time limit',
    'OUT_OF_MEMORY': 'out of memory',
    'NODE_FAIL': 'its node failed',
    'PREEMPTED': 'preempted',
}


def describe_exit(returncode: int) -> str:
    """``'exit status 1'``, or ``'killed by SIGKILL'`` for a signal."""
    if returncode < 0:
        return f'killed by {signal.Signals(-returncode).name}'
    return f'exit status {returncode}'


class LocalBackend:
    """Runs jobs on this machine, each in its own process group, and the
    launcher waits for one before it starts the next.

    Args:
        gpus (int): GPUs a run trains on; more than one starts
            ``tools/dist_train.sh`` with one process each.
    """
    name = 'local'
    parallel = 1

    def __init__(self, gpus: int = 0):
        self.gpus = gpus
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
        return [f'export PYTHON={shlex.quote(sys.executable)}']

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

    def poll(self, job: str) -> Optional[str]:
        """None while ``job`` runs, else how it ended."""
        child = self._children.get(job)
        if child is not None:
            returncode = child.poll()
            return None if returncode is None else describe_exit(returncode)
        pid = self._own_pid(job)
        if pid is not None and _start_time(pid) == job.split(':')[2]:
            return None
        return 'ended while no launcher watched it (exit status unknown)'

    def cancel(self, job: str, grace: float = 10.0) -> None:
        """SIGTERM the job's process group, SIGKILL what is left after
        ``grace`` seconds."""
        pid = self._own_pid(job)
        if pid is None or self.poll(job) is not None:
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.poll(job) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.poll(job) is None:
            os.killpg(pid, signal.SIGKILL)
            child = self._children.get(job)
            if child is not None:
                child.wait()

    @staticmethod
    def _own_pid(job: str) -> Optional[int]:
        host, pid, _ = job.split(':')
        if host != socket.gethostname():
            raise UserInputError(
                f'local job {job} runs on host {host}; follow it from there')
        return int(pid)

    @staticmethod
    def describe(job: str) -> str:
        return f'pid {job.split(":")[1]}'


def _resume_args(checkpoint: Optional[str]) -> List[str]:
    """mmdet's ``--resume CHECKPOINT``; nothing to start from scratch (a
    bare ``--resume`` would also drop a ``load_from``)."""
    return ['--resume', checkpoint] if checkpoint else []


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks since boot), '' when
    there is no such process: a pid with another start time is another
    process."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return ''
    fields = stat.rsplit(')', 1)[1].split()
    # Field 3 of the rest is the state; a zombie has ended.
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

    def poll(self, job: str) -> Optional[str]:
        """None while the job is queued or runs, else how it ended."""
        result = _slurm(['scontrol', 'show', 'job', '-o', job])
        if result.returncode != 0:
            return (f'Slurm no longer knows job {job} (state unknown: '
                    f'{result.stderr.strip()})')
        info = dict(item.split('=', 1) for item in result.stdout.split()
                    if '=' in item)
        state = info.get('JobState', 'UNKNOWN')
        if state in SLURM_ACTIVE:
            return None
        code, sig = info.get('ExitCode', '0:0').split(':')
        if state in SLURM_REASONS:
            return f'Slurm job {job} {SLURM_REASONS[state]}'
        if int(sig):
            return f'Slurm job {job} {state}, killed by signal {sig}'
        return f'Slurm job {job} {state}, exit status {code}'

    def cancel(self, job: str) -> None:
        _slurm(['scancel', job])

    @staticmethod
    def describe(job: str) -> str:
        return f'Slurm job {job}'


def _slurm(cmd: Sequence[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True,
                              timeout=120)
    except FileNotFoundError:
        raise UserInputError(
            f'{cmd[0]} is not installed here: the slurm backend runs on a '
            'Slurm login node (or use --backend local)') from None
