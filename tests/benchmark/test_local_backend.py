"""The benchmark command end to end on this machine, with the toy grid
(tests/benchmark/toy_grid.py): a run killed midway and the command run
again; a second launcher; Ctrl-C; a run that fails to build and one that
diverges."""
import json
import os
import signal
import sys
import time

import pytest
from PIL import Image
from subprocess_runs import (LOAD_FACTOR, group_gone, kill_group, run, start,
                             wait)
from toy_grid import (ENV, RUNS, TOOL, job_pid, launch_and_stop,
                      launch_command, state, wait_for, write_toy_grid)

from mmdet_vit_transfer.benchmark import LocalBackend, launch, plan_runs

#: The whole toy grid takes about 75 s on an idle 2-core machine.
TIMEOUT = 240 * LOAD_FACTOR


@pytest.mark.slow
def test_a_run_killed_midway_is_resumed_by_the_same_command(tmp_path):
    write_toy_grid(tmp_path)
    bench = tmp_path / 'bench'
    killed = 'random_vittiny_maskrcnn_2e'
    epoch_1 = bench / 'work_dirs' / killed / 'epoch_1.pth'
    # Kill the run's whole process group (its bash job and training) in its
    # second epoch.
    first, first_seconds = launch_and_stop(
        tmp_path, killed,
        lambda: os.killpg(job_pid(bench, killed), signal.SIGKILL), TIMEOUT)
    output = (tmp_path / 'first.log').read_text()
    assert first.returncode == 1, output[-3000:]
    assert f'failed {killed}: killed by SIGKILL' in output
    record = state(bench).runs[killed]
    assert record.status == 'failed' and record.gave_up is None
    assert {n: r.status for n, r in state(bench).runs.items()} == {
        RUNS[0]: 'done', killed: 'failed', RUNS[2]: 'done'}

    began = time.monotonic()
    second = run(launch_command(tmp_path), TIMEOUT, cwd=tmp_path, env=ENV)
    second_seconds = time.monotonic() - began
    assert second.returncode == 0, second.output[-3000:]
    out = second.output
    assert f'skipping {RUNS[0]}: done' in out
    assert f'skipping {RUNS[2]}: done' in out
    assert f'started {killed} (attempt 2, resuming from {epoch_1})' in out
    log = (bench / 'logs' / f'{killed}.log').read_text()
    assert 'resumed epoch: 1, iter: 4' in log.split('attempt 2')[1]
    attempts = state(bench).runs[killed].attempts
    assert [a.outcome for a in attempts] == ['failed', 'done']
    assert attempts[1].resumed_from == str(epoch_1)

    # The results: the table (every schedule), the figure, TIDE errors.
    summary = bench / 'summary'
    table = (summary / 'benchmark.md').read_text()
    assert '| random | ViT-Tiny | ' in table and '| direct | ViT-Tiny | ' in table
    assert '| initialisation | size | 1 ep | 2 ep |' in table
    with Image.open(summary / 'convergence.png') as png:
        png.load()
    errors = json.loads((summary / 'errors.json').read_text())
    assert [e['name'] for e in errors] == list(RUNS)
    assert len((summary / 'runs.md').read_text().splitlines()) == 2 + 3
    status = run([sys.executable, TOOL, 'status', bench], 120, env=ENV)
    assert f'benchmark {bench}: 3 runs, 3 done; no launcher running' \
        in status.output
    print(f'\nlocal toy grid: first launch {first_seconds:.0f} s (one run '
          f'killed), second {second_seconds:.0f} s\n{table}')


@pytest.mark.slow
def test_a_second_launcher_is_refused_and_ctrl_c_loses_nothing(tmp_path):
    write_toy_grid(tmp_path)
    bench = tmp_path / 'bench'
    cmd = launch_command(tmp_path)
    cmd = cmd[:cmd.index('--configs')] + ['--poll-seconds', '1']
    cmd[cmd.index('1e,2e')] = '1e'
    name = RUNS[0]
    first = start(cmd, log_path=tmp_path / 'first.log', cwd=tmp_path,
                  env=ENV)
    try:
        wait_for(lambda: (bench / 'benchmark.json').is_file() and
                 state(bench).runs[name].status == 'running', first,
                 'a running job', TIMEOUT)
        second = run(cmd, 120, cwd=tmp_path, env=ENV)
        assert second.returncode == 1
        assert second.last_line.startswith(
            'error: another launcher is running this benchmark (pid '
            f'{first.pid} on host ')
        status = run([sys.executable, TOOL, 'status', bench], 120, env=ENV)
        assert f'launcher: pid {first.pid} on host' in status.output
        assert f'running  {name}  ' in status.output

        # Ctrl-C: the launcher stops its job, waits until none of the job's
        # processes exists (it reaps their zombies itself) and records the
        # attempt as interrupted, not failed.
        job = job_pid(bench, name)
        first.send_signal(signal.SIGINT)
        wait(first, 120)
        assert first.returncode == 130
        assert group_gone(job)
    finally:
        kill_group(first)
    output = (tmp_path / 'first.log').read_text()
    assert f'stopped {name} (pid {job}); the next launch resumes it' in output
    record = state(bench).runs[name]
    assert record.status == 'pending'
    assert [a.outcome for a in record.attempts] == ['interrupted']

    again = run(cmd, TIMEOUT, cwd=tmp_path, env=ENV)
    assert again.returncode == 0, again.output[-3000:]
    assert state(bench).runs[name].status == 'done'


@pytest.mark.slow
def test_a_model_that_fails_to_build_is_given_up_after_two_failures(
        tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    configs = write_toy_grid(tmp_path)
    runs = plan_runs([configs / f'{RUNS[0]}.py'])
    # Four global blocks do not fit in two.
    options = {'model.backbone.arch.depth': 2}
    said = []
    for _ in range(3):
        result = launch(tmp_path / 'bench', runs, LocalBackend(), options,
                        poll_seconds=0.5, say=said.append)
        assert result.statuses == {RUNS[0]: 'failed'}
    record = state(tmp_path / 'bench').runs[RUNS[0]]
    assert len(record.attempts) == 2
    assert record.gave_up == 'failed the same way twice'
    assert record.current.reason == (
        'exit status 1: error: cannot build the model from the config: '
        'ValueError: global_attn_indexes [-1, -1, -1, -1] out of range for '
        'depth 2 (valid: 0..1)')
    assert record.current.log_tail[-1] == record.current.reason.split(
        ': ', 1)[1]
    assert said[-1].startswith(f'not retrying {RUNS[0]}: failed the same '
                               'way twice (exit status 1: error: cannot '
                               'build the model')
    giving_up, = [line for line in said if line.startswith('giving up')]
    assert giving_up.startswith(
        f'giving up {RUNS[0]}: failed the same way twice; the last lines of ')
    assert giving_up.endswith('\n    ' + record.current.log_tail[-1])


@pytest.mark.slow
def test_a_diverging_run_is_given_up_after_two_failures(tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    configs = write_toy_grid(tmp_path)
    runs = plan_runs([configs / f'{RUNS[0]}.py'])
    # Weight decay x lr of 1e7 blows the weights up in the first step; every
    # later loss is NaN, and NonFiniteLossHook stops at the third.
    options = {'optim_wrapper.optimizer.lr': 1e4,
               'optim_wrapper.optimizer.weight_decay': 1e9,
               'custom_hooks.2.max_skips': 2}
    for _ in range(2):
        launch(tmp_path / 'bench', runs, LocalBackend(), options,
               poll_seconds=0.5, say=print)
    record = state(tmp_path / 'bench').runs[RUNS[0]]
    assert record.gave_up == 'failed the same way twice'
    assert record.current.reason.startswith(
        'exit status 1: error: non-finite loss at iteration 4 (epoch 1): ')
    assert 'more than max_skips=2 of NonFiniteLossHook: the run is ' \
        'diverging' in record.current.reason
    print(f'\n{record.current.reason}\n' + '\n'.join(record.current.log_tail))
