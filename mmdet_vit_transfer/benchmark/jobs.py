"""A run's job: the bash script of its next attempt.

The script runs the stages that are not finished, in order: a training
stage resumes from its newest complete checkpoint when it has one
(:func:`resume_point`), a hand-off runs ``tools/handoff_checkpoint.py``, a
conversion ``tools/convert_checkpoint.py``. It stops at the first command
that fails (``set -e``), and announces the attempt and each stage in the
run's log. Stopped (Ctrl-C, SIGTERM to its process group), it exits once
its running command has ended, so that none of its processes outlives it.
"""
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..engine.resume import STEP_CHECKPOINT, find_resumable_checkpoint
from ..utils.checkpoint_files import is_complete_checkpoint
from .backends import TOOLS
from .plan import ConvertStage, HandoffStage, RunPlan, TrainStage
from .workdir import BenchmarkDir


def resume_point(bench: BenchmarkDir, run: RunPlan,
                 stage: TrainStage) -> Optional[str]:
    """The checkpoint a training stage resumes from, None to start it.

    The newest complete one; but a last stage that saved its final
    checkpoint and was stopped in its final evaluation resumes from the
    checkpoint before (mmengine resumed at the end of the schedule trains
    nothing and so evaluates nothing), or starts again without one.
    """
    work_dir = bench.work_dir(stage.name)
    final = bench.final_checkpoint(stage.name)
    if stage is not run.stages[-1] or not is_complete_checkpoint(final):
        return find_resumable_checkpoint(work_dir)
    earlier = []
    for path in work_dir.glob(final.name.split('_')[0] + '_*.pth'):
        match = STEP_CHECKPOINT.match(path.name)
        if match and path != final and is_complete_checkpoint(path):
            earlier.append((int(match.group(2)), str(path)))
    return max(earlier)[1] if earlier else None


#: How each attempt starts in the run's log.
ATTEMPT_HEADER = '[benchmark] ===== attempt'


def attempt_log(log: Path, attempt: int) -> List[str]:
    """The lines that attempt number ``attempt`` wrote to a run's log (none
    before its job started)."""
    if not log.is_file():
        return []
    lines = log.read_text(errors='replace').splitlines()
    header = f'{ATTEMPT_HEADER} {attempt} '
    starts = [i for i, line in enumerate(lines) if line.startswith(header)]
    return lines[starts[-1] + 1:] if starts else []


@dataclass
class Job:
    """A written job script and the checkpoint its first stage resumes
    from (None: from scratch or from the previous stage's output)."""
    script: Path
    resumed_from: Optional[str]


def write_job(bench: BenchmarkDir, run: RunPlan, backend,
              cfg_options: Optional[Dict], attempt: int) -> Job:
    """Write the configs of ``run``'s training stages and its job script.

    Args:
        bench (BenchmarkDir): the benchmark.
        run (RunPlan): the run.
        backend: gives the training command and environment.
        cfg_options (dict, optional): merged into every training config.
        attempt (int): its number, for the script's header.

    Raises:
        Exception: a config that mmengine cannot read (the launcher
            records it as the attempt's failure).
    """
    for stage in run.stages:
        if isinstance(stage, TrainStage):
            bench.write_config(stage, cfg_options)
        else:
            bench.output(stage.name).parent.mkdir(parents=True,
                                                  exist_ok=True)
    header = (f'{ATTEMPT_HEADER} {attempt} ({backend.name}, '
              '$(date +%FT%T)) =====')
    lines = [
        '#!/usr/bin/env bash',
        f'# Run {run.name}, attempt {attempt}, written by the benchmark '
        f'launcher of {bench.root}.', 'set -euo pipefail',
        '# Stopped: exit once the running command has ended.',
        "trap 'exit 130' INT", "trap 'exit 143' TERM",
        f'echo "{header}"',
        f'cd {shlex.quote(str(Path.cwd()))}', *backend.environment(),
        'stage() { echo "[benchmark] $(date \'+%F %T\') $*"; }'
    ]
    for index, stage in enumerate(run.stages, 1):
        title = f'stage {index}/{len(run.stages)} {stage.name}'
        if bench.stage_done(run, stage):
            lines.append(f'stage {shlex.quote(title + ": finished before")}')
            continue
        note, cmd = stage_command(bench, run, stage, backend)
        lines += [f'stage {shlex.quote(f"{title}: {note}")}',
                  ' '.join(map(shlex.quote, cmd))]
    lines.append('stage "run finished"')
    script = bench.job(run.name)
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text('\n'.join(lines) + '\n')
    return Job(script, next_resume_point(bench, run))


def next_resume_point(bench: BenchmarkDir, run: RunPlan) -> Optional[str]:
    """The checkpoint that the next attempt of ``run`` starts from: its
    first unfinished stage's :func:`resume_point` (None: from scratch, or
    from the previous stage's output)."""
    for stage in run.stages:
        if not bench.stage_done(run, stage):
            if isinstance(stage, TrainStage) and \
                    bench.config(stage.name).is_file():
                return resume_point(bench, run, stage)
            return None
    return None


def stage_command(bench: BenchmarkDir, run: RunPlan, stage,
                  backend) -> Tuple[str, Sequence[str]]:
    """What runs ``stage``: a note for the log and the command."""
    if isinstance(stage, HandoffStage):
        return 'hand-off', [
            sys.executable, str(TOOLS / 'handoff_checkpoint.py'),
            str(bench.final_checkpoint(stage.stage1)),
            str(bench.config(stage.stage2)), str(bench.output(stage.name))
        ]
    if isinstance(stage, ConvertStage):
        return f'conversion ({stage.format})', [
            sys.executable, str(TOOLS / 'convert_checkpoint.py'),
            str(bench.final_checkpoint(stage.source)),
            str(bench.output(stage.name)), '--format', stage.format
        ]
    checkpoint = resume_point(bench, run, stage)
    cmd = backend.train_command(stage.name, bench.config(stage.name),
                                bench.work_dir(stage.name), resume=checkpoint)
    note = (f'training, resuming from {checkpoint}'
            if checkpoint else 'training')
    return note, cmd
