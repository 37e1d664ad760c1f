"""The job script of a run's next attempt: finished stages skipped, each
training stage resumed from the right checkpoint."""
import torch

from mmdet_vit_transfer.benchmark import BenchmarkDir, plan_runs
from mmdet_vit_transfer.benchmark.backends import LocalBackend, SlurmBackend
from mmdet_vit_transfer.benchmark.jobs import write_job


def direct_run(tmp_path):
    for stage in ('stage1', 'stage2'):
        (tmp_path / f'toy_direct_{stage}.py').write_text(
            "val_evaluator = dict(type='CocoMetric', ann_file='val.json')\n"
            'train_cfg = dict(max_epochs=2)\n')
    run, = plan_runs([tmp_path / 'toy_direct_stage2.py'])
    return run


def save(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': {}}, path)


def commands(script):
    return [line for line in script.read_text().splitlines()
            if 'tools/' in line]


def test_a_new_direct_run_trains_hands_off_and_trains(tmp_path):
    run = direct_run(tmp_path)
    bench = BenchmarkDir(tmp_path / 'bench')
    job = write_job(bench, run, LocalBackend(), {'train_cfg.max_epochs': 3},
                    1)
    stage1, handoff, stage2 = commands(job.script)
    assert stage1.endswith('configs/toy_direct_stage1.py --work-dir '
                           f'{bench.work_dir("toy_direct_stage1")}')
    assert handoff.endswith(
        f'{bench.work_dir("toy_direct_stage1")}/epoch_3.pth '
        f'{bench.config("toy_direct")} {bench.output("toy_direct_handoff")}')
    assert '--resume' not in stage2 and job.resumed_from is None
    # The written config: options merged, its work dir, the hand-off as
    # load_from, the detections saved for the error analysis.
    cfg = bench.stage_config('toy_direct')
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.load_from == str(bench.output('toy_direct_handoff'))
    assert cfg.val_evaluator.outfile_prefix == str(
        bench.work_dir('toy_direct') / 'results')


def test_finished_stages_are_skipped_and_the_next_resumes(tmp_path):
    run = direct_run(tmp_path)
    bench = BenchmarkDir(tmp_path / 'bench')
    write_job(bench, run, LocalBackend(), None, 1)
    save(bench.work_dir('toy_direct_stage1') / 'epoch_2.pth')
    save(bench.output('toy_direct_handoff'))
    save(bench.work_dir('toy_direct') / 'epoch_1.pth')
    job = write_job(bench, run, SlurmBackend('gpu'), None, 2)
    stage2, = commands(job.script)
    epoch_1 = str(bench.work_dir('toy_direct') / 'epoch_1.pth')
    assert (
        f'slurm_train.sh gpu toy_direct {bench.config("toy_direct")} '
        f'{bench.work_dir("toy_direct")} --resume {epoch_1}') in stage2
    assert job.resumed_from == epoch_1
    text = job.script.read_text()
    assert "stage 'stage 1/3 toy_direct_stage1: finished before'" in text
    assert 'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 40000))' in text


def test_stopped_in_the_final_evaluation_resumes_from_the_epoch_before(
        tmp_path):
    run = direct_run(tmp_path)
    bench = BenchmarkDir(tmp_path / 'bench')
    write_job(bench, run, LocalBackend(), None, 1)
    save(bench.work_dir('toy_direct_stage1') / 'epoch_2.pth')
    save(bench.output('toy_direct_handoff'))
    for epoch in (1, 2):
        save(bench.work_dir('toy_direct') / f'epoch_{epoch}.pth')
    # mmengine resumed at epoch 2 of 2 would train and evaluate nothing.
    job = write_job(bench, run, LocalBackend(), None, 2)
    assert job.resumed_from == str(bench.work_dir('toy_direct') /
                                   'epoch_1.pth')
    (bench.work_dir('toy_direct') / 'epoch_1.pth').unlink()
    job = write_job(bench, run, LocalBackend(), None, 3)
    assert job.resumed_from is None
    assert '--resume' not in commands(job.script)[0]
