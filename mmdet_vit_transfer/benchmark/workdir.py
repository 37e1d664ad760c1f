"""The benchmark's work directory: where each file of a benchmark lives,
the configs its stages train, and which stages are finished.

    <bench>/benchmark.json       the state (:mod:`.state`)
    <bench>/launcher.lock        held by the running launcher (:mod:`.lock`)
    <bench>/configs/<stage>.py   the config a training stage runs
    <bench>/work_dirs/<stage>/   its mmengine work dir
    <bench>/checkpoints/<stage>.pth   a hand-off's or a conversion's output
    <bench>/jobs/<run>.sh, <bench>/logs/<run>.log   a run's job and output
    <bench>/summary/             table, figure, TIDE errors (:mod:`.results`)

A stage's config is the user's config as mmengine loads it, with the
launch's ``--cfg-options`` and then the stage's own merged, its inputs (the
hand-off file as ``load_from`` for stage 2 of direct pre-training), its
``work_dir``, and the evaluation's detections saved to
``<work_dir>/results.{bbox,segm}.json`` for the error analysis. It is
written again at every attempt, so an edited config is picked up by the
next one.
"""
from pathlib import Path
from typing import Dict, Optional, Union

from mmengine.config import Config

from ..utils.checkpoint_files import is_complete_checkpoint
from ..utils.run_results import last_coco_metrics
from .plan import FILE_STAGES, RunPlan, Stage, TrainStage


class BenchmarkDir:
    """Paths and finished stages of the benchmark in ``root``."""

    def __init__(self, root: Union[str, Path]):
        self.root = Path(root).resolve()
        self.state = self.root / 'benchmark.json'
        self.lock = self.root / 'launcher.lock'
        self.summary = self.root / 'summary'

    def config(self, stage: str) -> Path:
        return self.root / 'configs' / f'{stage}.py'

    def work_dir(self, stage: str) -> Path:
        return self.root / 'work_dirs' / stage

    def output(self, stage: str) -> Path:
        """The file that a hand-off or a conversion stage writes."""
        return self.root / 'checkpoints' / f'{stage}.pth'

    def job(self, run: str) -> Path:
        return self.root / 'jobs' / f'{run}.sh'

    def log(self, run: str) -> Path:
        return self.root / 'logs' / f'{run}.log'

    def write_config(self, stage: TrainStage,
                     cfg_options: Optional[Dict] = None) -> Config:
        """Write the config that ``stage`` trains (see the module doc).

        Raises:
            Exception: whatever mmengine raises for a config it cannot
                read; the launcher records it as the run's failure.
        """
        cfg = Config.fromfile(stage.config)
        for options in (cfg_options, stage.cfg_options, {
                key: str(self.output(source))
                for key, source in stage.inputs.items()
        }):
            if options:
                cfg.merge_from_dict(options)
        work_dir = self.work_dir(stage.name)
        cfg.work_dir = str(work_dir)
        for key in ('val_evaluator', 'test_evaluator'):
            if isinstance(cfg.get(key), dict):
                cfg[key]['outfile_prefix'] = str(work_dir / 'results')
        path = self.config(stage.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        cfg.dump(path)
        return cfg

    def stage_config(self, stage: str) -> Config:
        """The config a stage was last written with."""
        return Config.fromfile(self.config(stage),
                               import_custom_modules=False)

    def final_checkpoint(self, stage: str) -> Path:
        """``epoch_<max_epochs>.pth`` (or ``iter_<max_iters>.pth``) of a
        training stage whose config was written."""
        train_cfg = self.stage_config(stage).train_cfg
        if 'max_epochs' in train_cfg:
            name = f"epoch_{train_cfg['max_epochs']}.pth"
        else:
            name = f"iter_{train_cfg['max_iters']}.pth"
        return self.work_dir(stage) / name

    def evaluated(self, stage: str) -> bool:
        """Whether a training stage logged its evaluation at the end of its
        schedule (False before its config is written)."""
        if not self.config(stage).is_file():
            return False
        train_cfg = self.stage_config(stage).train_cfg
        last = train_cfg.get('max_epochs', train_cfg.get('max_iters'))
        try:
            return last_coco_metrics(self.work_dir(stage))['step'] == last
        except FileNotFoundError:
            return False

    def stage_done(self, run: RunPlan, stage: Stage) -> bool:
        """Whether ``stage`` of ``run`` need not run (again): a hand-off or
        conversion whose file is complete; a training stage whose final
        checkpoint is complete and, for the run's last stage, whose final
        evaluation was logged."""
        if isinstance(stage, FILE_STAGES):
            return is_complete_checkpoint(self.output(stage.name))
        if not self.config(stage.name).is_file():
            return False
        if not is_complete_checkpoint(self.final_checkpoint(stage.name)):
            return False
        return stage is not run.stages[-1] or self.evaluated(stage.name)

    def run_done(self, run: RunPlan) -> bool:
        """Whether the run's last stage trained and evaluated to its end."""
        return self.stage_done(run, run.stages[-1])
