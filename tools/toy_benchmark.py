"""The benchmark in miniature on the toy set: random init, direct detection
pre-training and MAE pre-training of a tiny ViT, each fine-tuned with Mask
R-CNN at two schedule lengths, then the table, convergence figure and TIDE
errors.

    python tools/toy_benchmark.py [--out-dir work_dirs/toy_benchmark]
        [--scale default|small] [--arms random direct mae]

The default scale takes under an hour on 2 CPU cores; --scale small runs a
few iterations of everything. Reports go to OUT_DIR/summary/.
"""
import argparse
import os
import sys

from mmdet_vit_transfer.analysis.toy_benchmark import (ARMS, SCALES,
                                                       run_toy_benchmark)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out-dir', default='work_dirs/toy_benchmark')
    parser.add_argument('--scale', default='default', choices=sorted(SCALES))
    parser.add_argument('--arms', nargs='+', default=list(ARMS),
                        choices=ARMS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run_toy_benchmark(args.out_dir, args.scale, args.arms)
    summary = result.summary
    print('\n' + summary.files['markdown'].read_text())
    print('TIDE errors (delta AP50) of the longer schedule:\n')
    print(result.files['errors_table'].read_text())
    total = sum(result.timings.values())
    print(f'Wall time {total / 60:.1f} min; reports in '
          f"{os.path.dirname(summary.files['markdown'])}")
    for work_dir, reason in summary.skipped:
        print(f'left out {work_dir}: {reason}', file=sys.stderr)
    return result


if __name__ == '__main__':
    main()
