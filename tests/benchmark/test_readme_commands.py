"""Every tools/benchmark.py command of the README runs: each launch as a
--dry-run (it plans the runs from the real configs, writes their configs and
job scripts and says how it would submit them), then status and summary on
the same work dir."""
import re
import shlex
import sys

import pytest
from mmengine.config import Config
from subprocess_runs import LOAD_FACTOR, run
from toy_grid import ENV, REPO

#: Planning the whole grid loads its 30 configs: about 40 s.
TIMEOUT = 120 * LOAD_FACTOR


def readme_commands():
    readme = (REPO / 'README.md').read_text()
    return [shlex.split(line.split('  #')[0])
            for line in re.findall(r'^python tools/benchmark\.py .*$', readme,
                                   re.M)]


def test_the_readme_shows_each_subcommand():
    assert [cmd[2:4] for cmd in readme_commands()] == [
        ['launch', 'work_dirs/benchmark'], ['launch', 'work_dirs/benchmark'],
        ['launch', 'work_dirs/benchmark'], ['status', 'work_dirs/benchmark'],
        ['summary', 'work_dirs/benchmark'], ['launch', 'work_dirs/families'],
        ['launch', 'work_dirs/protocols']]


@pytest.mark.slow
def test_readme_commands(tmp_path):
    outputs, jobs = [], []
    for cmd in readme_commands():
        # work_dirs/benchmark is tmp_path, work_dirs/families beside it.
        work_dir = tmp_path / cmd[3].replace('work_dirs/benchmark', '.')
        cmd = [sys.executable, *cmd[1:3], str(work_dir.resolve()), *cmd[4:]]
        if cmd[2] == 'launch':
            cmd.append('--dry-run')
        result = run(cmd, TIMEOUT, cwd=REPO, env=ENV)
        outputs.append((result.returncode, result.output))
        # Each launch writes the job scripts of its runs.
        jobs.append({p.stem: p.read_text()
                     for p in (work_dir / 'jobs').glob('*.sh')})
    (grid_rc, grid), (slice_rc, sliced), (configs_rc, configs), \
        (status_rc, status), (summary_rc, summary), \
        (families_rc, families), (protocols_rc, protocols) = outputs
    assert grid_rc == slice_rc == configs_rc == status_rc == 0
    assert families_rc == protocols_rc == 0

    # The whole grid, one sbatch job per run, 4 nodes of 8 GPUs.
    submits = re.findall(r'^would submit (\S+): (.*)$', grid,
                         re.M)
    assert len(submits) == 30
    assert submits[0][1].startswith(
        'sbatch --parsable --job-name=random_vitb_maskrcnn_100e '
        '--partition=gpu --nodes=4 --ntasks-per-node=8 --cpus-per-task=5 ')
    assert '--gres=gpu:8 --time=3-00:00:00 ' in submits[0][1]
    job = jobs[0]['mae_vitb_maskrcnn_25e']
    assert ('slurm_train.sh gpu mae_vitb_maskrcnn_25e '
            f'{tmp_path}/configs/mae_vitb_maskrcnn_25e.py') in job
    assert 'GPUS=32 GPUS_PER_NODE=8' in job

    # The slice, on 8 local GPUs with the lr scaled.
    assert re.findall(r'^would submit (\S+):', sliced, re.M) == [
        'beit_vitb_maskrcnn_25e', 'beit_vitb_maskrcnn_50e',
        'mae_vitb_maskrcnn_25e', 'mae_vitb_maskrcnn_50e']
    assert 'dist_train.sh' in jobs[1]['mae_vitb_maskrcnn_50e']
    assert Config.fromfile(tmp_path / 'configs' / 'mae_vitb_maskrcnn_50e.py'
                           ).auto_scale_lr.enable is True
    # iTPN, and direct pre-training as stage 1, hand-off, stage 2.
    assert re.findall(r'^would submit (\S+):', configs, re.M) == [
        'itpn_b_pixel_maskrcnn_1x', 'maskrcnn_vitb_direct']
    direct = jobs[2]['maskrcnn_vitb_direct']
    assert [line.split(': ')[1] for line in direct.splitlines()
            if line.startswith("stage 'stage")] == [
                "training'", "hand-off'", "training'"]

    # A dry run submits nothing and saves no state.
    assert f'benchmark {tmp_path}: 0 runs; no launcher running' in status
    assert summary_rc == 1 and f'no finished run in {tmp_path}' in summary

    # Today's families at ViT-B, on 8 local GPUs.
    assert re.findall(r'^would submit (\S+):', families, re.M) == [
        'clip_vitb_maskrcnn_100e', 'dinov2_vitb_maskrcnn_100e',
        'sam_vitb_maskrcnn_100e']

    # Both protocols, three detectors (no frozen cascade or Faster R-CNN
    # config), each cell with three seeds.
    cells = [f'mae_vitb_{variant}_100e'
             for variant in ('maskrcnn', 'cascade_maskrcnn', 'fasterrcnn',
                             'frozen_maskrcnn')]
    assert re.findall(r'^would submit (\S+):', protocols, re.M) == [
        f'{cell}_seed{seed}' for cell in cells for seed in (0, 1, 2)]
    seeded = Config.fromfile(tmp_path / 'work_dirs' / 'protocols' /
                             'configs' / 'mae_vitb_fasterrcnn_100e_seed1.py')
    assert seeded.randomness.seed == 1
    assert seeded.model.type == 'FasterRCNN'
