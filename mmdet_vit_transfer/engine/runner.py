"""The runner that the configs select, so that MMDetection's own entry points
(``mim train mmdet CONFIG``, mmdet's ``tools/train.py`` and ``test.py``,
``tools/dist_train.sh``, ``tools/slurm_train.sh``) all give the same run.

``configs/_base_/default_runtime.py`` sets ``runner_type =
'mmdet.TransferRunner'``; mmdet's scripts then build the runner through the
``RUNNERS`` registry, and :class:`TransferRunner` adds to mmengine's
``Runner``:

* **Classes checked.** Before anything is built, every head's
  ``num_classes`` is compared with the classes of every dataset
  (:func:`~mmdet_vit_transfer.datasets.class_count.check_num_classes`).
* **Any device.** Before the runner is built,
  :func:`~.distributed.setup_distributed` lets ``--launcher
  pytorch|slurm|mpi`` run on machines without CUDA (``gloo`` backend, a
  DDP wrapper that accepts CPU models).
* **AMP on a CPU.** ``--amp`` writes ``optim_wrapper.type =
  'AmpOptimWrapper'``; without an accelerator it is built as
  :class:`~.optimizers.CPUBFloat16AmpOptimWrapper`
  (:func:`~.optimizers.select_amp_optim_wrapper`), on accelerators as
  mmengine's own.
* **Padding follows the normalisation.** Transforms that pad before
  normalisation and whose config leaves the value out pad with the pixel
  that the config's ``data_preprocessor`` turns into 0
  (:func:`~mmdet_vit_transfer.datasets.fill_pad_values`).
* **lr scaling with accumulation.** ``--auto-scale-lr`` counts
  ``optim_wrapper.accumulative_counts`` in the batch of an update.
* **Resume.** ``--resume`` without a path continues from
  :func:`~.resume.find_resumable_checkpoint`, the newest *complete*
  checkpoint, even if the run was killed while saving.
* **Checkpoint loading.** ``load_from`` / ``--resume PATH`` / the test
  checkpoint is checked first (a missing, truncated or corrupt file is an
  error naming it; the check reads the zip's directory, and the whole file
  only with ``verify_checkpoint_checksums = True`` in the config), then read
  with ``torch.load(weights_only=True)``, with mmengine's own checkpoint
  types allow-listed for that load only.
* **Impossible schedules** (a zero or negative lr, a scheduler phase that
  is empty or begins after the run, a warmup longer than the run, a
  milestone past ``max_epochs``) stop the run before its first iteration
  (:mod:`.schedule_checks`).
* **One line per user error.** Bad data, config values or checkpoint files
  (:data:`~mmdet_vit_transfer.utils.USER_ERRORS`), any error raised while
  the model is built from the config or its weights are initialised from
  ``init_cfg`` (reported as its root cause), and a checkpoint that the
  weights-only load refuses end the run with the last line ``error: <what>
  (<file>)``; the traceback goes to the log file.
"""
import copy
import logging
import pickle

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.runner import EpochBasedTrainLoop, Runner
from mmdet.registry import RUNNERS

from ..datasets.class_count import check_num_classes
from ..datasets.pipeline_configs import fill_pad_values
from ..utils.checkpoint_files import (check_checkpoint_file,
                                      mmengine_checkpoint_globals,
                                      refused_checkpoint)
from ..utils.errors import ConfigError, input_errors, user_errors_exit
from .distributed import setup_distributed
from .optimizers import select_amp_optim_wrapper
from .registry_checks import unregistered_types
from .resume import find_resumable_checkpoint
from .schedule_checks import check_learning_rate, check_param_schedulers

#: ``runner_type`` of the configs (mmdet's scripts build it from the root
#: registry, so the scope is spelled out).
RUNNER_TYPE = 'mmdet.TransferRunner'


@RUNNERS.register_module()
class TransferRunner(Runner):
    """mmengine's ``Runner`` with the additions listed in the module
    docstring; arguments are those of :class:`mmengine.runner.Runner`."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'TransferRunner':
        """Check the heads' number of classes against the datasets', set
        up distributed processing for ``cfg.launcher`` (gloo without CUDA),
        fill in the padding values of the pipelines
        (:func:`~mmdet_vit_transfer.datasets.fill_pad_values`), then build
        the runner from ``cfg``.

        Args:
            cfg (Config): The full config (not modified).

        Returns:
            TransferRunner: The runner.
        """
        cfg = copy.deepcopy(cfg)
        with user_errors_exit():
            check_num_classes(cfg)
            setup_distributed(cfg)
            return super().from_cfg(fill_pad_values(cfg))

    def build_model(self, model):
        """mmengine's; an error raised while building is the config's,
        reported as its root cause, and a misspelled ``type`` with the
        registered names closest to it."""
        with input_errors('cannot build the model from the config'):
            try:
                return super().build_model(model)
            except KeyError as error:
                unknown = unregistered_types(model, 'model')
                if unknown:
                    raise ConfigError(unknown[0]) from error
                raise

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's, with ``AmpOptimWrapper`` selected for this machine
        (:func:`~.optimizers.select_amp_optim_wrapper`), after checking that
        the lr is positive."""
        if isinstance(optim_wrapper, dict):
            check_learning_rate(optim_wrapper)
        if isinstance(optim_wrapper, dict) and 'type' in optim_wrapper:
            optim_wrapper = copy.copy(optim_wrapper)
            optim_wrapper['type'] = select_amp_optim_wrapper(
                optim_wrapper['type'])
        return super().build_optim_wrapper(optim_wrapper)

    def scale_lr(self, optim_wrapper, auto_scale_lr=None) -> None:
        """mmengine's ``--auto-scale-lr``, with gradient accumulation counted
        in the batch: an update sees processes x ``batch_size`` x
        ``accumulative_counts`` images. (mmengine leaves out the last factor,
        so accumulating up to the configs' batch of 64 would still divide
        the lr.)"""
        wrappers = list(optim_wrapper.values()) if isinstance(
            optim_wrapper, OptimWrapperDict) else [optim_wrapper]
        counts = {getattr(w, '_accumulative_counts', 1) for w in wrappers}
        if auto_scale_lr and auto_scale_lr.get('enable') and counts != {1}:
            (count, ) = counts
            print_log(f'gradient accumulation over {count} iterations: the '
                      f'batch of an update is {count} x the batch of an '
                      'iteration', logger='current')
            auto_scale_lr = dict(
                auto_scale_lr,
                base_batch_size=auto_scale_lr['base_batch_size'] / count)
        super().scale_lr(optim_wrapper, auto_scale_lr)

    def build_param_scheduler(self, scheduler):
        """mmengine's, after checking that every scheduler config runs
        within the training (:func:`~.schedule_checks.
        check_param_schedulers`)."""
        configs = [scheduler] if isinstance(scheduler, dict) and \
            'type' in scheduler else scheduler
        if isinstance(configs, list) and self._train_loop is not None:
            epoch_based = isinstance(self.train_loop, EpochBasedTrainLoop)
            check_param_schedulers(configs, len(self.train_dataloader),
                                   self.max_epochs if epoch_based else None,
                                   self.max_iters)
        return super().build_param_scheduler(scheduler)

    def _init_model_weights(self) -> None:
        """mmengine's; an error raised while initialising the weights is
        the config's ``init_cfg`` (its checkpoint or its options)."""
        with input_errors('cannot initialise the model weights from '
                          'init_cfg'):
            super()._init_model_weights()

    def load_or_resume(self) -> None:
        """Load ``load_from`` or resume, as mmengine does, except that
        ``--resume`` without a path takes the newest complete checkpoint and
        that the file is checked before it is read."""
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            self._load_from = find_resumable_checkpoint(self.work_dir)
            if self._load_from is None:
                print_log(f'no complete checkpoint in {self.work_dir} to '
                          'resume from; training starts from scratch',
                          logger='current', level=logging.WARNING)
                self._resume = False
        if self._load_from is not None:
            check_checkpoint_file(
                self._load_from,
                verify_checksums=self.cfg.get('verify_checkpoint_checksums',
                                              False))
        try:
            with mmengine_checkpoint_globals():
                super().load_or_resume()
        except pickle.UnpicklingError as error:
            raise refused_checkpoint(self._load_from) from error

    def train(self):
        with user_errors_exit(self.logger):
            return super().train()

    def val(self):
        with user_errors_exit(self.logger):
            return super().val()

    def test(self):
        with user_errors_exit(self.logger):
            return super().test()


def build_runner(cfg: Config) -> Runner:
    """The runner a config asks for, the way mmdet's ``tools/train.py``
    builds it: ``runner_type`` through the registry, else mmengine's
    ``Runner``."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return MMENGINE_RUNNERS.build(cfg)
