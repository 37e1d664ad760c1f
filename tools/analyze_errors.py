"""TIDE breakdown of detection errors, for one or several result files.

    python tools/analyze_errors.py RESULTS.json [RESULTS.json ...] \
        ANNOTATIONS.json [--task auto|bbox|segm] [--names A B ...] \
        [--out-dir DIR]

RESULTS are COCO-format detections (mmdet writes them with
``--cfg-options test_evaluator.outfile_prefix=PREFIX``: PREFIX.bbox.json,
PREFIX.segm.json); ANNOTATIONS the COCO file they are for. Prints AP50 and
the delta AP50 of classification, localisation, both, duplicate, background
and missed errors, and writes errors.json, errors.md and errors.png (the
files side by side) to --out-dir.
"""
import argparse

from mmdet_vit_transfer.analysis.error_analysis import (TASKS,
                                                        analyze_errors,
                                                        errors_table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', nargs='+', metavar='RESULTS.json')
    parser.add_argument('annotations', metavar='ANNOTATIONS.json')
    parser.add_argument('--task', default='auto', choices=['auto', *TASKS],
                        help='auto: segm for results with masks')
    parser.add_argument('--names', nargs='+',
                        help='labels of the result files (default: names)')
    parser.add_argument('--out-dir', default='error_analysis')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    results = analyze_errors(args.results, args.annotations, args.out_dir,
                             task=args.task, names=args.names)
    print(errors_table(results))
    print(f'wrote {args.out_dir}/errors.{{json,md,png}}')
    return results


if __name__ == '__main__':
    main()
