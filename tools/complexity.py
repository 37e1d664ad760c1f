"""Parameters, FLOPs, activations and inference speed of a detector.

    python tools/complexity.py CONFIG [--shape H W] [--repeats 3]
    python tools/complexity.py mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py \
        --shape 1024 1024

One random image of the config's fixed input size (or ``--shape``), batch 1,
on the CPU; FLOPs count multiply-adds (fvcore's convention). Prints a table
for the whole detector and its backbone, neck and heads; ``--json`` also
writes it.
"""
import argparse
import json
from dataclasses import asdict

from mmengine.config import DictAction

from mmdet_vit_transfer.analysis.complexity import detector_complexity


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help="config file, or 'mmdet::<path>'")
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the config\'s fixed '
                        'padded size)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed inference runs, best kept; 0 skips '
                        'timing (default: 3)')
    parser.add_argument('--json', help='also write the numbers here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = detector_complexity(args.config, input_hw=args.shape,
                                 repeats=args.repeats,
                                 cfg_options=args.cfg_options)
    print(f'\n{args.config}\n')
    print(result.table())
    if result.unsupported_ops:
        skipped = ', '.join(f'{op} x{n}'
                            for op, n in result.unsupported_ops.items())
        print(f'Not counted (element-wise or data-dependent): {skipped}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(asdict(result), config=args.config), f, indent=2)
        print(f'wrote {args.json}')
    return result


if __name__ == '__main__':
    main()
