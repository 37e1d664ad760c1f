"""``tools/train.py`` and ``tools/test.py``: mmdet's tools, same flags, with
this package imported and two differences.

* :func:`~mmdet_vit_transfer.engine.distributed.setup_distributed` runs
  before the runner is built, so ``--launcher pytorch|slurm|mpi`` also works
  on machines without CUDA (gloo backend).
* ``--resume`` without a path continues from
  :func:`~mmdet_vit_transfer.engine.resume.find_resumable_checkpoint`: the
  newest complete checkpoint, even if the run was killed while saving.
"""
import argparse
import logging
import os
import os.path as osp
import warnings
from copy import deepcopy
from typing import List, Optional

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmdet.registry import RUNNERS

from .distributed import setup_distributed
from .resume import find_resumable_checkpoint

CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair in '
    'xxx=yyy format will be merged into config file. If the value to be '
    'overwritten is a list, it should be like key="[a,b]" or key=a,b. It also '
    'allows nested list/tuple values, e.g. key="[(a,b),(c,d)]". Note that the '
    'quotation marks are necessary and that no white space is allowed.')


def _add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_train_parser() -> argparse.ArgumentParser:
    """mmdet 3.3's ``tools/train.py`` arguments."""
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest complete checkpoint '
        'in the work directory.')
    _add_common_args(parser)
    return parser


def build_test_parser() -> argparse.ArgumentParser:
    """mmdet 3.3's ``tools/test.py`` arguments."""
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, it '
        'will be automatically saved to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true')
    _add_common_args(parser)
    return parser


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--launcher``, ``--cfg-options`` and the work dir
    applied, as mmdet's tools do (work dir: CLI, else the config's, else
    ``./work_dirs/<config name>``)."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def train_config(args: argparse.Namespace) -> Config:
    """The training config for parsed ``tools/train.py`` arguments."""
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr', {})
        if 'enable' not in scale or 'base_batch_size' not in scale:
            raise RuntimeError(
                '--auto-scale-lr needs auto_scale_lr = dict(enable=..., '
                f'base_batch_size=...) in the config; {args.config} has '
                f'{scale or "none"}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.load_from = find_resumable_checkpoint(cfg.work_dir)
        # mmengine would follow last_checkpoint even to an incomplete file.
        cfg.resume = cfg.load_from is not None
        if not cfg.resume:
            print_log(f'no complete checkpoint in {cfg.work_dir} to resume '
                      'from; training starts from scratch', logger='current',
                      level=logging.WARNING)
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def test_config(args: argparse.Namespace) -> Config:
    """The test config for parsed ``tools/test.py`` arguments."""
    from mmdet.engine.hooks.utils import trigger_visualization_hook

    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg:
            warnings.warn('Cannot find ``tta_model`` in config, '
                          'we will set it as default.')
            cfg.tta_model = dict(
                type='DetTTAModel',
                tta_cfg=dict(
                    nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
        if 'tta_pipeline' not in cfg:
            warnings.warn('Cannot find ``tta_pipeline`` in config, '
                          'we will set it as default.')
            test_data_cfg = cfg.test_dataloader.dataset
            while 'dataset' in test_data_cfg:
                test_data_cfg = test_data_cfg['dataset']
            cfg.tta_pipeline = deepcopy(test_data_cfg.pipeline)
            cfg.tta_pipeline[-1] = dict(
                type='TestTimeAug',
                transforms=[[
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ], [
                    dict(
                        type='PackDetInputs',
                        meta_keys=('img_id', 'img_path', 'ori_shape',
                                   'img_shape', 'scale_factor', 'flip',
                                   'flip_direction'))
                ]])
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Set up distributed processing for ``cfg.launcher``, then build the
    runner (``runner_type`` honoured)."""
    from mmdet.utils import setup_cache_size_limit_of_dynamo

    setup_cache_size_limit_of_dynamo()
    setup_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def train_main(argv: Optional[List[str]] = None) -> Runner:
    """``tools/train.py``: train with the parsed ``argv``."""
    runner = build_runner(train_config(build_train_parser().parse_args(argv)))
    runner.train()
    return runner


def test_main(argv: Optional[List[str]] = None) -> Runner:
    """``tools/test.py``: test (and evaluate) with the parsed ``argv``."""
    from mmdet.evaluation import DumpDetResults

    args = build_test_parser().parse_args(argv)
    runner = build_runner(test_config(args))
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(
                f'--out must name a .pkl or .pickle file, got {args.out}')
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    runner.test()
    return runner
