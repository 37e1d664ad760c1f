"""The benchmark in miniature on the toy set: random init, direct detection
pre-training and MAE pre-training of a tiny ViT, each fine-tuned with Mask
R-CNN at two schedule lengths, then the table, convergence figure and TIDE
errors.

    python tools/toy_benchmark.py [--out-dir work_dirs/toy_benchmark]
        [--scale default|small] [--arms random direct mae] [--seeds 0,1,2]

The default scale takes under an hour on 2 CPU cores; --scale small runs a
few iterations of everything. The runs go through the benchmark's launcher
(`tools/benchmark.py status OUT_DIR` follows them; run again, it continues
what was interrupted). Reports go to OUT_DIR/summary/. --seeds runs each
fine-tuning once per seed (the pre-trainings once) and the table shows
mean +- std over the seeds.
"""
import argparse
import sys

from mmdet_vit_transfer.benchmark.cli import seed_list
from mmdet_vit_transfer.benchmark.toy import ARMS, SCALES, run_toy_benchmark
from mmdet_vit_transfer.utils import user_errors_exit
from mmdet_vit_transfer.utils.processes import interruptible


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='work_dirs/toy_benchmark')
    parser.add_argument('--scale', default='default', choices=sorted(SCALES))
    parser.add_argument('--arms', nargs='+', default=list(ARMS),
                        choices=ARMS)
    parser.add_argument('--seeds', type=seed_list,
                        help='e.g. 0,1,2 (default: one run per cell)')
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with user_errors_exit(), interruptible(subreaper=True):
            result = run_toy_benchmark(args.out_dir, args.scale, args.arms,
                                       seeds=args.seeds)
    except KeyboardInterrupt:
        print('interrupted; the state is saved: run the same command again '
              'to continue')
        return 130
    files = result.files
    unfinished = {name: status
                  for name, status in result.launch.statuses.items()
                  if status != 'done'}
    for name, status in unfinished.items():
        print(f'left out {name}: {status}', file=sys.stderr)
    if 'markdown' not in files or 'errors' not in files:
        print(f'error: no results; `python tools/benchmark.py status '
              f'{args.out_dir}` says why', file=sys.stderr)
        return 1
    print('\n' + files['markdown'].read_text())
    print('TIDE errors (delta AP50) of the longer schedule:\n')
    print(files['errors'].read_text())
    print(f'Wall time {result.total_seconds / 60:.1f} min; reports in '
          f"{files['markdown'].parent}")
    return 1 if unfinished else 0


if __name__ == '__main__':
    sys.exit(main())
