"""Write the config that trains a config on a COCO-format dataset of your own.

    python tools/dataset_config.py BASE_CONFIG DATA_ROOT OUT_CONFIG \
        [--train-ann annotations/instances_train.json] [--train-images train/] \
        [--val-ann annotations/instances_val.json] [--val-images val/]

OUT_CONFIG inherits BASE_CONFIG (an initialisation's Mask R-CNN config, or a
Faster R-CNN config for box-only annotations) and sets the data paths, the
class names (the training file's categories) and num_classes. The annotation
files are checked first; bad input ends with one line saying what is wrong.
"""
import argparse

from mmdet_vit_transfer.datasets.dataset_config import (DEFAULT_LAYOUT,
                                                         write_dataset_config)
from mmdet_vit_transfer.utils import user_errors_exit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('base', help='the config to train')
    parser.add_argument('data_root', help='the dataset root')
    parser.add_argument('out', help='the config file to write')
    for key, default in DEFAULT_LAYOUT.items():
        parser.add_argument(
            '--' + key.replace('_', '-'), default=default,
            help=f'relative to DATA_ROOT (default: {default})')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with user_errors_exit():
        summary = write_dataset_config(
            args.base, args.data_root, args.out,
            **{key: getattr(args, key) for key in DEFAULT_LAYOUT})
    print(f'{summary.path}: {summary.describe()}')
    print(f'wrote {args.out}')
    return summary


if __name__ == '__main__':
    main()
