"""Processes end with the tool that started them: SIGTERM stops a tool as
Ctrl-C does, a job's process group is gone (running or zombie) when
end_process_group returns, and a tool reaps the children it leaves."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from subprocess_runs import gone, group_gone

from mmdet_vit_transfer.utils import processes
from mmdet_vit_transfer.utils.processes import (Interrupted,
                                                end_process_group,
                                                interruptible,
                                                signals_deferred)


def test_sigterm_stops_the_block_as_ctrl_c_does():
    with pytest.raises(Interrupted) as stop, interruptible():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert isinstance(stop.value, KeyboardInterrupt)
    assert stop.value.exit_status == 143
    # Outside the block SIGTERM has its previous handler again.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_stop_within_a_deferred_block_comes_at_its_end():
    # SIGTERM: a suite started as a background job of a script has SIGINT
    # ignored, and a signal ignored since the start stays ignored.
    done = []
    with pytest.raises(Interrupted) as stop, interruptible():
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            done.append('the block ran to its end')
    assert done and stop.value.signum == signal.SIGTERM


def test_a_group_that_ignores_sigterm_is_killed_and_gone():
    # The leader and its child both ignore SIGTERM.
    job = subprocess.Popen(
        ['bash', '-c', 'trap "" TERM; sleep 300 & wait'],
        start_new_session=True)
    time.sleep(0.3)
    began = time.monotonic()
    assert end_process_group(job.pid, grace=0.5, leader=job)
    assert time.monotonic() - began < 10
    assert job.returncode == -signal.SIGKILL
    assert group_gone(job.pid)


def test_orphans_of_a_job_are_reaped_by_the_subreaper_that_ends_it(
        tmp_path):
    # A tool that is a subreaper (as the benchmark launcher is) ends a job
    # whose leader dies at once and whose child outlives it: when
    # end_process_group returns, nothing of the job is left, not even a
    # zombie. It runs in a process of its own: the tests are no subreaper.
    script = textwrap.dedent(f'''
        import importlib.util, subprocess
        spec = importlib.util.spec_from_file_location(
            'processes', {processes.__file__!r})
        processes = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(processes)
        assert processes.become_subreaper()
        job = subprocess.Popen(
            ['bash', '-c', 'sleep 300 & echo $! > {tmp_path}/child; '
             'trap "exit 0" TERM; wait'], start_new_session=True)
        while not open('{tmp_path}/child').read().strip():
            pass
        assert processes.end_process_group(job.pid, grace=5, leader=job)
        assert not processes.group_exists(job.pid)
        print('job gone')
    ''')
    (tmp_path / 'child').write_text('')
    result = subprocess.run([sys.executable, '-c', script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'job gone'
    assert gone(int((tmp_path / 'child').read_text()))
