"""The benchmark command on a real one-node Slurm cluster
(scripts/start_slurm_cluster.sh: Debian's slurm-wlm and munge, no GPUs):
the toy grid (tests/benchmark/toy_grid.py) as one sbatch job per run, each
training through tools/slurm_train.sh with --launcher slurm on CPU tasks,
one job cancelled with scancel in its second epoch and the command run
again; and `status` showing what Slurm says of each run's job."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from subprocess_runs import LOAD_FACTOR, run
from toy_grid import (ENV, RUNS, launch_and_stop, launch_command, state,
                      write_toy_grid)

from mmdet_vit_transfer.benchmark import status_lines
from mmdet_vit_transfer.benchmark.backends import SlurmBackend
from mmdet_vit_transfer.benchmark.state import (Attempt, BenchmarkState,
                                                RunRecord, StateFile, now)

START_SCRIPT = Path(__file__).parents[2] / 'scripts' / 'start_slurm_cluster.sh'
#: The toy grid as Slurm jobs: about 90 s on an idle 2-core machine.
TIMEOUT = 300 * LOAD_FACTOR
SLURM = ['--backend', 'slurm', '--partition', 'debug', '--gpus-per-node',
         '0', '--cpus-per-task', '1', '--time', '30']


@pytest.fixture(scope='session')
def slurm_cluster():
    """Start the one-node cluster, installing the packages if needed (as
    root); skip with the script's reason when it cannot."""
    try:
        result = subprocess.run(['bash', str(START_SCRIPT)],
                                capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip('no Slurm cluster: scripts/start_slurm_cluster.sh took '
                    'over 15 minutes')
    lines = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode != 0:
        reason = lines[-1] if lines else f'exit status {result.returncode}'
        print(f'\nskipping the Slurm tests: {reason}')
        pytest.skip(f'no Slurm cluster: {reason}')
    return lines[-1]


@pytest.mark.slow
def test_a_cancelled_slurm_job_is_resumed_by_the_same_command(
        tmp_path, slurm_cluster):
    write_toy_grid(tmp_path)
    bench = tmp_path / 'bench'
    cancelled = RUNS[1]
    epoch_1 = bench / 'work_dirs' / cancelled / 'epoch_1.pth'
    cancelled_jobs = []

    def cancel():
        cancelled_jobs.append(state(bench).runs[cancelled].current.job)
        subprocess.run(['scancel', cancelled_jobs[0]], check=True)

    first, first_seconds = launch_and_stop(tmp_path, cancelled, cancel,
                                           TIMEOUT, *SLURM)
    job = cancelled_jobs[0]
    output = (tmp_path / 'first.log').read_text()
    assert first.returncode == 1, output[-3000:]
    assert f'failed {cancelled}: Slurm job {job} cancelled (scancel)' \
        in output
    assert {n: r.status for n, r in state(bench).runs.items()} == {
        RUNS[0]: 'done', cancelled: 'failed', RUNS[2]: 'done'}
    log = (bench / 'logs' / f'{cancelled}.log').read_text()
    # The training ran as Slurm tasks through slurm_train.sh.
    assert f'slurm_train.sh debug {cancelled}' in (
        bench / 'jobs' / f'{cancelled}.sh').read_text()
    assert 'CANCELLED' in log

    began = time.monotonic()
    second = run(launch_command(tmp_path, *SLURM), TIMEOUT, cwd=tmp_path,
                 env=ENV)
    second_seconds = time.monotonic() - began
    assert second.returncode == 0, second.output[-3000:]
    assert (f'started {cancelled} (attempt 2, resuming from {epoch_1}) as '
            'Slurm job ') in second.output
    log = (bench / 'logs' / f'{cancelled}.log').read_text()
    assert 'resumed epoch: 1, iter: 4' in log.split('attempt 2')[1]
    table = (bench / 'summary' / 'benchmark.md').read_text()
    assert '| initialisation | size | 1 ep | 2 ep |' in table
    assert (bench / 'summary' / 'convergence.png').is_file()
    assert (bench / 'summary' / 'errors.png').is_file()
    print(f'\nSlurm toy grid: first launch {first_seconds:.0f} s (one job '
          f'cancelled), second {second_seconds:.0f} s\n{table}')


def sbatch(*args):
    return subprocess.run(['sbatch', '--parsable', '--partition=debug',
                           '--time=5', '--output=/dev/null', *args],
                          capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


@pytest.mark.slow
def test_status_shows_what_slurm_says_of_each_job(tmp_path, slurm_cluster):
    # Three runs a launcher left running: one whose job has failed since,
    # one whose job runs on every core and one whose job waits for them.
    failed = sbatch('--wrap', 'exit 3')
    deadline = time.monotonic() + 120
    while SlurmBackend.job_states([failed])[failed].active:
        assert time.monotonic() < deadline, 'the failing job did not end'
        time.sleep(0.5)
    running = sbatch(f'--cpus-per-task={os.cpu_count()}', '--wrap',
                     'sleep 120')
    pending = sbatch('--wrap', 'sleep 120')
    try:
        deadline = time.monotonic() + 120
        while SlurmBackend.job_states([running])[running].state != 'RUNNING':
            assert time.monotonic() < deadline, 'the job did not start'
            time.sleep(0.5)
        bench = tmp_path / 'bench'
        bench.mkdir()
        jobs = dict(a_failed=failed, b_running=running, c_pending=pending)
        StateFile(bench / 'benchmark.json').save(BenchmarkState(runs={
            name: RunRecord('running', [name],
                            [Attempt('slurm', job, now())])
            for name, job in jobs.items()}))
        lines = status_lines(bench)
    finally:
        subprocess.run(['scancel', running, pending], timeout=60)
    assert lines[1:3] == [
        f'  running  a_failed   starting; Slurm job {failed} FAILED, exit '
        'status 3; the launcher records it when it next looks, attempt 1',
        f'  running  b_running  starting; Slurm job {running} RUNNING, '
        'attempt 1']
    # Why it waits: Resources, or Priority behind other users' jobs.
    assert re.fullmatch(rf'  running  c_pending  starting; Slurm job '
                        rf'{pending} PENDING \(\w+\), attempt 1', lines[3])
