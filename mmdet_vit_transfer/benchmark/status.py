"""The progress view of a benchmark, read from its state file, its runs'
logs and the backends' view of their jobs, without touching any of them:
which runs are pending, running, done or failed; for a running one its
stage, epoch and ETA and what its backend says of its job (Slurm: pending
and why, running, or ended with its exit status); for a done one its AP;
for a failed one why, and whether it will be retried."""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Dict, List, Optional

from ..utils.errors import UserInputError
from ..utils.run_results import last_coco_metrics
from .backends import BACKENDS, JobState
from .lock import lock_holder
from .progress import TrainingProgress, training_progress
from .state import STATUSES, BenchmarkState, RunRecord, StateFile
from .workdir import BenchmarkDir


@dataclass(frozen=True)
class RunProgress:
    """Where a running run is: the stage whose log changed last (``index``
    of ``stages``, 1-based) and its last logged training position."""
    stage: str
    index: int
    stages: int
    training: TrainingProgress
    max_epochs: Optional[int]

    @property
    def position(self) -> tuple:
        """Stage, epoch and iteration (not the ETA)."""
        return self.stage, self.training.epoch, self.training.iter

    def describe(self) -> str:
        """``'stage 1/3 X_stage1: epoch 2/4 (iter 3/10), eta 0:01:02'``;
        without the stage for a run of one stage."""
        text = self.training.describe(self.max_epochs)
        if self.stages > 1:
            text = f'stage {self.index}/{self.stages} {self.stage}: {text}'
        return text


def run_progress(bench: BenchmarkDir,
                 record: RunRecord) -> Optional[RunProgress]:
    """The progress of the stage whose log changed last since the current
    attempt started (a stage that another run trained before is not this
    run's progress), None before any iteration is logged."""
    since = datetime.fromisoformat(record.current.started).timestamp() \
        if record.current else 0
    logged = []
    for index, stage in enumerate(record.stages, 1):
        changed = [p.stat().st_mtime
                   for p in bench.work_dir(stage).glob('*/*.log')]
        if changed and max(changed) >= int(since):
            logged.append((max(changed), index, stage))
    if not logged:
        return None
    _, index, stage = max(logged)
    progress = training_progress(bench.work_dir(stage))
    if progress is None:
        return None
    max_epochs = bench.stage_config(stage).train_cfg.get('max_epochs')
    return RunProgress(stage, index, len(record.stages), progress,
                       max_epochs)


def job_states(state: BenchmarkState) -> Dict[str, JobState]:
    """What each backend says of the jobs of the running runs, one query per
    backend; a backend that cannot be asked here (no Slurm on this
    machine) says nothing."""
    jobs = defaultdict(list)
    for record in state.runs.values():
        if record.status == 'running':
            jobs[record.current.backend].append(record.current.job)
    states = {}
    for backend, ids in jobs.items():
        try:
            states.update(BACKENDS[backend].job_states(ids))
        except UserInputError:
            continue
    return states


def _job(record: RunRecord, states: Dict[str, JobState]) -> str:
    attempt = record.current
    described = BACKENDS[attempt.backend].describe(attempt.job)
    job = states.get(attempt.job)
    if job is None:
        return described
    if job.end is not None:
        return f'{job.end}; the launcher records it when it next looks'
    return f'{described} {job.describe()}'


def _details(bench: BenchmarkDir, name: str, record: RunRecord,
             states: Dict[str, JobState]) -> str:
    attempt = record.current
    if record.status == 'done':
        if not bench.config(record.stages[-1]).is_file():
            return f'wrote {bench.output(record.stages[-1])}'
        metrics = last_coco_metrics(bench.work_dir(name))
        mask = metrics.get('coco/segm_mAP')
        return (f"box AP {100 * metrics['coco/bbox_mAP']:.1f}" +
                ('' if mask is None else f' / mask AP {100 * mask:.1f}'))
    if record.status == 'running':
        progress = run_progress(bench, record)
        where = progress.describe() if progress else 'starting'
        return (f'{where}; {_job(record, states)}, attempt '
                f'{len(record.attempts)}')
    if record.status == 'failed':
        verdict = (f'not retried: {record.gave_up}' if record.gave_up else
                   'retried by the next launch')
        return f'{attempt.reason} ({verdict})'
    if attempt is not None:
        return f'attempt {len(record.attempts)} {attempt.outcome}'
    return ''


def status_lines(work_dir) -> List[str]:
    """The progress view, one line per run after a headline."""
    bench = BenchmarkDir(work_dir)
    state = StateFile(bench.state).load()
    counts = {s: sum(r.status == s for r in state.runs.values())
              for s in STATUSES}
    holder = lock_holder(bench.lock)
    headline = f'benchmark {bench.root}: {len(state.runs)} runs'
    headline += ''.join(f', {n} {s}' for s, n in counts.items() if n)
    lines = [headline + (f'; launcher: {holder}' if holder else
                         '; no launcher running')]
    states = job_states(state)
    width = max((len(n) for n in state.runs), default=0)
    for name, record in state.runs.items():
        details = _details(bench, name, record, states)
        lines.append(f'  {record.status:<8} {name:<{width}}  {details}')
    return lines
