"""Launch a benchmark, follow it, and end with its results.

:func:`launch` takes the runs of a benchmark (:mod:`.plan`) and a backend
(:mod:`.backends`) and, holding the benchmark's lock (:mod:`.lock`):

* skips the runs that are done;
* follows the jobs that an earlier launcher submitted and did not see end
  (it was killed, or left Slurm jobs running);
* submits every other run once (locally one after another, on Slurm all at
  once; a run that shares an unfinished stage with a running one waits for
  it), each from its newest complete checkpoint (:mod:`.jobs`);
* records how each job ended (:mod:`.state`): done when its last stage
  evaluated at the end of its schedule, else failed, with the reason (how
  the job ended, a :class:`~.backends.JobEnd`, and the last error line of
  its log) and its log's last lines. A failed run is submitted again by the
  next launch, unless it failed the same way twice from the same checkpoint
  or ``max_failures`` times: then it is reported and left alone;
* writes the results (:mod:`.results`) once no job is left running.

Ctrl-C (or SIGTERM) stops the jobs of a backend that does not detach them
(local), waiting until none of their processes exists, records their
attempts as interrupted (not failures) and the runs as pending, to be
resumed by the next launch; detached (Slurm) jobs keep running. The state
is saved after every change, so killing the launcher loses nothing either.
"""
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..utils.errors import UserInputError
from ..utils.processes import signals_deferred
from .backends import DryRunBackend, JobEnd
from .jobs import ATTEMPT_HEADER, attempt_log, next_resume_point, write_job
from .lock import LauncherLock
from .plan import RunPlan
from .results import write_results
from .state import (Attempt, BenchmarkState, RunRecord, StateFile, now,
                    write_text_atomically)
from .status import run_progress
from .workdir import BenchmarkDir

#: Lines of a failed run's log kept in the state and printed.
LOG_TAIL = 15
#: The line that says why a command failed: our tools' ``error: ...``, or
#: the last line of a Python traceback.
ERROR_LINE = re.compile(r'^(error: .*|[\w.]*(Error|Exception)(: .*)?)$')


@dataclass
class LaunchResult:
    """What a launch ended with: run name -> status, and the reports."""
    statuses: Dict[str, str]
    files: Dict[str, Path] = field(default_factory=dict)

    @property
    def all_done(self) -> bool:
        return all(s == 'done' for s in self.statuses.values())


def error_line(lines: Sequence[str]) -> Optional[str]:
    """The last line that names an error, if any."""
    for line in reversed(lines):
        if ERROR_LINE.match(line.strip()):
            return line.strip()
    return None


def give_up_reason(record: RunRecord, max_failures: int) -> Optional[str]:
    """Why a failed run is not submitted again, None to retry it."""
    failures = [a for a in record.attempts if a.outcome == 'failed']
    if len(failures) >= 2:
        last, before = failures[-1], failures[-2]
        if (last.reason, last.resumed_from) == (before.reason,
                                                before.resumed_from):
            return 'failed the same way twice'
    if len(failures) >= max_failures:
        return f'failed {len(failures)} times (max_failures={max_failures})'
    return None


class Launcher:
    """One launch of a benchmark (see the module doc); use :func:`launch`.
    """

    def __init__(self, bench: BenchmarkDir, runs: Sequence[RunPlan], backend,
                 state_file: StateFile, cfg_options: Optional[Dict],
                 max_failures: int, poll_seconds: float,
                 say: Callable[[str], None]):
        self.bench, self.runs, self.backend = bench, list(runs), backend
        self.file, self.cfg_options = state_file, cfg_options
        self.max_failures, self.poll_seconds, self.say = (max_failures,
                                                          poll_seconds, say)
        self.state: BenchmarkState = state_file.load()
        self._positions: Dict[str, tuple] = {}

    def record(self, run: RunPlan) -> RunRecord:
        return self.state.runs[run.name]

    def prepare(self, retry_failed: bool
                ) -> Tuple[List[RunPlan], List[RunPlan]]:
        """Records for new runs; returns (runs to submit, runs running)."""
        todo, running = [], []
        for run in self.runs:
            record = self.state.runs.setdefault(run.name, RunRecord())
            record.stages = [stage.name for stage in run.stages]
            if record.status == 'running':
                if record.current.backend != self.backend.name:
                    raise UserInputError(
                        f'run {run.name} is running as '
                        f'{record.current.backend} job {record.current.job}'
                        f' from an earlier launch; launch with --backend '
                        f'{record.current.backend} to follow it')
                self.say(f'following {run.name}: '
                         f'{self.backend.describe(record.current.job)} of an '
                         'earlier launch')
                running.append(run)
            elif record.status == 'done' or self.bench.run_done(run):
                record.status = 'done'
                self.say(f'skipping {run.name}: done')
            elif record.gave_up and not retry_failed:
                self.say(f'not retrying {run.name}: {record.gave_up} '
                         f'({record.current.reason}); --retry-failed tries '
                         'again')
            else:
                # Given up and retried: one more attempt.
                record.gave_up = None
                todo.append(run)
        self.file.save(self.state)
        return todo, running

    def start(self, run: RunPlan) -> bool:
        """Submit ``run``; False when the backend started nothing (a dry
        run) or its job could not even be written (its config does not
        load), which is recorded as a failure."""
        record = self.record(run)
        number = len(record.attempts) + 1
        log = self.bench.log(run.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            job = write_job(self.bench, run, self.backend, self.cfg_options,
                            number)
        except Exception as err:  # noqa: BLE001  any config error
            self.not_submitted(run, number, (
                f'error: cannot load the config of {run.name}: '
                f'{type(err).__name__}: {err}'))
            return False
        job_id = self.backend.submit(run.name, job.script, log)
        if job_id is None:
            return False
        record.attempts.append(
            Attempt(self.backend.name, job_id, now(), job.resumed_from))
        record.status = 'running'
        try:
            self.file.save(self.state)
        except OSError:
            self.backend.cancel(job_id)
            raise
        resumed = (f', resuming from {job.resumed_from}'
                   if job.resumed_from else '')
        self.say(f'started {run.name} (attempt {number}{resumed}) as '
                 f'{self.backend.describe(job_id)}; log {log}')
        return True

    def not_submitted(self, run: RunPlan, number: int, error: str) -> None:
        """Record attempt ``number`` of ``run`` as failed before its job
        started, with ``error`` in its log."""
        with self.bench.log(run.name).open('a') as f:
            f.write(f'{ATTEMPT_HEADER} {number} ({self.backend.name}, '
                    f'{now()}) =====\n{error}\n')
        self.record(run).attempts.append(
            Attempt(self.backend.name, '', now()))
        self.finish(run, JobEnd(cause='not submitted'))

    def finish(self, run: RunPlan, end: JobEnd) -> None:
        """Record how ``run``'s job ended."""
        record, attempt = self.record(run), self.record(run).current
        attempt.ended = now()
        if self.bench.run_done(run):
            attempt.outcome, record.status = 'done', 'done'
            self.say(f'done {run.name}')
        else:
            log = self.bench.log(run.name)
            lines = attempt_log(log, len(record.attempts))
            error = error_line(lines)
            attempt.outcome, record.status = 'failed', 'failed'
            attempt.reason = f'{end}: {error}' if error else str(end)
            if not error and end.succeeded:
                attempt.reason += (', without the evaluation at the end of '
                                   'its schedule')
            attempt.log_tail = lines[-LOG_TAIL:]
            record.gave_up = give_up_reason(record, self.max_failures)
            self.say(f'failed {run.name}: {attempt.reason}')
            if record.gave_up:
                self.say(f'giving up {run.name}: {record.gave_up}; the last '
                         f'lines of {log}:\n' +
                         '\n'.join(f'    {line}' for line in lines[-LOG_TAIL:]))
        self.file.save(self.state)

    def interrupt(self, running: List[RunPlan]) -> None:
        """Stop the jobs that are not detached, waiting until none of their
        processes exists (their attempts are interrupted, the runs pending,
        resumed by the next launch); detached jobs keep running and the next
        launch follows them."""
        for run in running:
            record = self.record(run)
            job = self.backend.describe(record.current.job)
            if self.backend.detached:
                self.say(f'{run.name} keeps running as {job}')
                continue
            self.backend.cancel(record.current.job)
            resume = next_resume_point(self.bench, run)
            record.current.ended = now()
            record.current.outcome = 'interrupted'
            record.current.reason = 'stopped by the launcher'
            record.status = 'pending'
            self.say(f'stopped {run.name} ({job}); the next launch resumes '
                     'it' + (f' from {resume}' if resume else ''))
        self.file.save(self.state)

    def report_progress(self, run: RunPlan) -> None:
        """Say where a running run is when its logged position (stage,
        epoch, iteration) changes."""
        progress = run_progress(self.bench, self.record(run))
        if progress is not None and \
                self._positions.get(run.name) != progress.position:
            self._positions[run.name] = progress.position
            self.say(f'{run.name}: {progress.describe()}')

    def waits(self, run: RunPlan, running: List[RunPlan]) -> bool:
        """Whether ``run`` shares an unfinished stage with a running run."""
        busy = {stage.name for other in running for stage in other.stages}
        return any(stage.name in busy and
                   not self.bench.stage_done(run, stage)
                   for stage in run.stages)

    def run(self, retry_failed: bool, wait: bool,
            results: Callable[[BenchmarkDir, List[str]], Dict[str, Path]]
            ) -> LaunchResult:
        todo, running = self.prepare(retry_failed)
        try:
            while todo or running:
                for run in list(running):
                    end = self.backend.poll(self.record(run).current.job)
                    if end is None:
                        self.report_progress(run)
                    else:
                        running.remove(run)
                        self.finish(run, end)
                parallel = self.backend.parallel or len(todo) + len(running)
                for run in list(todo):
                    if len(running) >= parallel:
                        break
                    if self.waits(run, running):
                        continue
                    todo.remove(run)
                    # A stop while submitting comes once the job is known.
                    with signals_deferred():
                        if self.start(run):
                            running.append(run)
                if running and not wait and not todo:
                    self.say(f'{len(running)} job(s) keep running; '
                             '`status` shows them, the same command '
                             'again follows them')
                    break
                if running:
                    time.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            # The cleanup is bounded; a second Ctrl-C waits for it.
            with signals_deferred():
                self.interrupt(running)
            raise
        names = [run.name for run in self.runs]
        files = {} if running else results(self.bench, names)
        return LaunchResult(
            {name: self.state.runs[name].status for name in names}, files)


def discard(path: Path, text: str) -> None:
    """A state writer that writes nothing (a dry run)."""


def launch(work_dir, runs: Sequence[RunPlan], backend,
           cfg_options: Optional[Dict] = None, max_failures: int = 3,
           retry_failed: bool = False, wait: bool = True,
           poll_seconds: float = 10.0,
           write_state: Callable[[Path, str], None] = write_text_atomically,
           say: Callable[[str], None] = print,
           dry_run: bool = False,
           results: Callable[[BenchmarkDir, List[str]],
                             Dict[str, Path]] = write_results
           ) -> LaunchResult:
    """Run a benchmark to its end, or continue one (see the module doc).

    Args:
        work_dir (str | Path): the benchmark's work dir.
        runs (list[RunPlan]): what to run (:mod:`.plan`).
        backend: a :class:`~.backends.LocalBackend` or
            :class:`~.backends.SlurmBackend`.
        cfg_options (dict, optional): merged into every training config.
        max_failures (int): failures of one run before it is given up.
        retry_failed (bool): submit runs that were given up once more.
        wait (bool): follow the jobs to their end; False returns once
            every run is submitted (Slurm).
        poll_seconds (float): how often the jobs are checked.
        write_state (callable): ``write(path, text)`` replacing the state
            file atomically.
        say (callable): where progress lines go.
        dry_run (bool): write the configs and job scripts of the runs it
            would submit and say how it would submit them (through a
            :class:`~.backends.DryRunBackend`); submit nothing, save no
            state, write no results.
        results (callable): ``results(bench, run_names)`` writes the
            reports once no job runs; returns name -> file
            (:func:`~.results.write_results`).

    Raises:
        LauncherBusyError: another launcher runs this benchmark.
        StateWriteError: the state could not be saved (full disk).
        UserInputError: the state file is foreign, a job could not be
            submitted, or a running job belongs to another backend.
    """
    if max_failures < 1:
        raise UserInputError(f'max_failures must be >= 1, got {max_failures}')
    if dry_run:
        backend, write_state = DryRunBackend(backend, say), discard
        wait, results = False, _no_results
    bench = BenchmarkDir(work_dir)
    with LauncherLock(bench.lock):
        launcher = Launcher(bench, runs, backend,
                            StateFile(bench.state, write_state), cfg_options,
                            max_failures, poll_seconds, say)
        return launcher.run(retry_failed, wait, results)


def _no_results(bench: BenchmarkDir, runs: List[str]) -> Dict[str, Path]:
    return {}
