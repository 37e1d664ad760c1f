"""Write the benchmark table and convergence figure from finished runs.

    python tools/summarize_benchmark.py WORK_DIR... [--out-dir DIR]

Each WORK_DIR is a run's work directory, or a directory of them (such as
``work_dirs``). Runs are named like their configs,
``{init}_vit{size}_maskrcnn_{epochs}e``. Writes ``benchmark.md``,
``benchmark.csv`` and ``convergence.png`` to ``--out-dir`` and prints the
tables; unfinished or unnamed runs are listed and left out.
"""
import argparse

from mmdet_vit_transfer.analysis import summarize_benchmark


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='run work directory, or a directory of them')
    parser.add_argument('--out-dir', default='benchmark_summary',
                        help='where the table and figure go '
                        '(default: benchmark_summary)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    summary = summarize_benchmark(args.work_dirs, args.out_dir)
    for work_dir, reason in summary.skipped:
        print(f'left out {work_dir}: {reason}')
    print(summary.files['markdown'].read_text())
    for kind, path in summary.files.items():
        print(f'wrote {path} ({kind})')
    return summary


if __name__ == '__main__':
    main()
