"""The progress view of a benchmark, read from its state file and its runs'
logs without touching either: which runs are pending, running, done or
failed; for a running one its stage, epoch and ETA; for a done one its AP;
for a failed one why, and whether it will be retried."""
from typing import List, Optional

from ..utils.run_results import last_coco_metrics
from .backends import LocalBackend, SlurmBackend
from .lock import lock_holder
from .progress import training_progress
from .state import STATUSES, RunRecord, StateFile
from .workdir import BenchmarkDir

DESCRIBE_JOB = dict(local=LocalBackend.describe, slurm=SlurmBackend.describe)


def run_progress(bench: BenchmarkDir,
                 record: RunRecord) -> Optional[str]:
    """``'stage 1/3 X_stage1: epoch 2/4 (iter 3/10), eta 0:01:02'`` for the
    stage whose log changed last, None before any iteration is logged."""
    logged = []
    for index, stage in enumerate(record.stages, 1):
        logs = list(bench.work_dir(stage).glob('*/*.log'))
        if logs:
            logged.append((max(p.stat().st_mtime for p in logs), index,
                           stage))
    if not logged:
        return None
    _, index, stage = max(logged)
    progress = training_progress(bench.work_dir(stage))
    if progress is None:
        return None
    train_cfg = bench.stage_config(stage).train_cfg
    text = progress.describe(train_cfg.get('max_epochs'))
    if len(record.stages) > 1:
        text = f'stage {index}/{len(record.stages)} {stage}: {text}'
    return text


def _details(bench: BenchmarkDir, name: str, record: RunRecord) -> str:
    attempt = record.current
    if record.status == 'done':
        metrics = last_coco_metrics(bench.work_dir(name))
        mask = metrics.get('coco/segm_mAP')
        return (f"box AP {100 * metrics['coco/bbox_mAP']:.1f}" +
                ('' if mask is None else f' / mask AP {100 * mask:.1f}'))
    if record.status == 'running':
        job = DESCRIBE_JOB[attempt.backend](attempt.job)
        progress = run_progress(bench, record) or 'starting'
        return f'{progress}; {job}, attempt {len(record.attempts)}'
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
    width = max((len(n) for n in state.runs), default=0)
    for name, record in state.runs.items():
        details = _details(bench, name, record)
        lines.append(f'  {record.status:<8} {name:<{width}}  {details}')
    return lines
