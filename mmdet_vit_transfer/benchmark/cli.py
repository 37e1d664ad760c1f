"""The command line of ``tools/benchmark.py`` (its docstring is the
usage)."""
import argparse

from mmengine.config import DictAction

from ..utils.errors import user_errors_exit
from ..utils.processes import interruptible
from .backends import LocalBackend, SlurmBackend
from .launcher import launch
from .plan import CONFIG_ROOT, grid_configs, plan_runs, seeded_runs
from .results import write_results
from .state import StateFile
from .status import status_lines
from .workdir import BenchmarkDir


def _list(text):
    return [item for item in text.split(',') if item]


def seed_list(text):
    """``'0,1,2'`` -> ``[0, 1, 2]`` (an argparse type)."""
    try:
        return [int(item) for item in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a list of integers such as 0,1,2') from None


def build_parser(usage: str = __doc__) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=usage, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    run = commands.add_parser('launch', help='run or continue a benchmark')
    run.add_argument('work_dir')
    grid = run.add_argument_group('what to run')
    grid.add_argument('--inits', type=_list, help='e.g. mae,beit')
    grid.add_argument('--sizes', type=_list, help='e.g. b,l')
    grid.add_argument('--schedules', type=_list, help='e.g. 25e,50e')
    grid.add_argument('--protocols', type=_list, default=['full'],
                      help='full,frozen (default: full)')
    grid.add_argument('--detectors', type=_list, default=['mask_rcnn'],
                      help='mask_rcnn,cascade,faster_rcnn (default: '
                      'mask_rcnn)')
    grid.add_argument('--seeds', type=seed_list,
                      help='e.g. 0,1,2: each run once per seed, as '
                      '<run>_seed<s> (default: no seed axis)')
    grid.add_argument('--config-dir', default=str(CONFIG_ROOT),
                      help='where the grid configs are (default: the '
                      "package's configs)")
    grid.add_argument('--configs', nargs='+', default=[],
                      help='more configs to run (iTPN, direct stage 2, ...)')
    grid.add_argument('--cfg-options', nargs='+', action=DictAction,
                      help='overrides for every training config')
    where = run.add_argument_group('where to run')
    where.add_argument('--backend', choices=('local', 'slurm'),
                       default='local')
    where.add_argument('--gpus', type=int, default=0,
                       help='local: GPUs per run (default 0: one process)')
    where.add_argument('--partition', help='slurm: partition')
    where.add_argument('--nodes', type=int, default=1)
    where.add_argument('--gpus-per-node', type=int, default=8,
                       help='slurm: GPUs per node; 0 runs CPU tasks')
    where.add_argument('--tasks-per-node', type=int, default=1,
                       help='slurm: CPU processes per node without GPUs')
    where.add_argument('--cpus-per-task', type=int, default=5)
    where.add_argument('--time', help='slurm: time limit of each job')
    where.add_argument('--sbatch-args', type=str.split, default=[],
                       help='slurm: more sbatch options, in one string')
    how = run.add_argument_group('retries and waiting')
    how.add_argument('--max-failures', type=int, default=3)
    how.add_argument('--retry-failed', action='store_true',
                     help='one more attempt for runs given up')
    how.add_argument('--no-wait', action='store_true',
                     help='return once every run is submitted')
    how.add_argument('--poll-seconds', type=float, default=10.0)
    how.add_argument('--dry-run', action='store_true',
                     help='write the job scripts and show how they would '
                     'be submitted; submit nothing')
    for name, text in (('status', 'pending, running, done, failed runs'),
                       ('summary', 'write the results of finished runs')):
        commands.add_parser(name, help=text).add_argument('work_dir')
    return parser


def make_backend(args):
    if args.backend == 'local':
        return LocalBackend(gpus=args.gpus)
    if not args.partition:
        raise SystemExit('error: --backend slurm needs --partition')
    return SlurmBackend(args.partition, args.nodes, args.gpus_per_node,
                        args.tasks_per_node, args.cpus_per_task, args.time,
                        args.sbatch_args)


def run_launch(args):
    configs = list(args.configs)
    grid_axes = (args.inits, args.sizes, args.schedules,
                 args.protocols != ['full'], args.detectors != ['mask_rcnn'])
    if any(grid_axes) or not configs:
        configs = grid_configs(args.config_dir, args.inits, args.sizes,
                               args.schedules, args.protocols,
                               args.detectors) + configs
    runs = seeded_runs(plan_runs(configs), args.seeds)
    # SIGTERM stops the launcher as Ctrl-C does; the orphans of its jobs'
    # processes come to it, to be reaped.
    try:
        with interruptible(subreaper=True):
            result = launch(args.work_dir, runs,
                            make_backend(args), args.cfg_options,
                            args.max_failures, args.retry_failed,
                            not args.no_wait, args.poll_seconds,
                            dry_run=args.dry_run)
    except KeyboardInterrupt:
        print('interrupted; the state is saved: run the same command again '
              'to continue')
        return 130
    if args.dry_run:
        return 0
    print('\n'.join(status_lines(args.work_dir)))
    for name, path in result.files.items():
        print(f'wrote {path} ({name})')
    if 'markdown' in result.files:
        print('\n' + result.files['markdown'].read_text())
    return 0 if result.all_done or args.no_wait else 1


def main(argv=None, usage: str = __doc__) -> int:
    """Run ``tools/benchmark.py``; returns its exit status."""
    args = build_parser(usage).parse_args(argv)
    with user_errors_exit():
        if args.command == 'launch':
            return run_launch(args)
        if args.command == 'status':
            print('\n'.join(status_lines(args.work_dir)))
            return 0
        bench = BenchmarkDir(args.work_dir)
        files = write_results(bench, list(StateFile(bench.state).load().runs))
        if not files:
            print(f'no finished run in {bench.root}')
            return 1
        for name, path in files.items():
            print(f'wrote {path} ({name})')
        return 0
