"""Write the synthetic toy COCO dataset used for quick end-to-end runs.

Example::

    python tools/make_toy_coco.py data/toy_coco --num-train 400 --num-val 100
    # other classes and category ids, box-only annotations
    python tools/make_toy_coco.py data/toy_boxes --categories star:7,cross:42 \
        --box-only

A dataset already written with the same arguments is kept unless ``--force``.
"""
import argparse

from mmdet_vit_transfer.datasets.toy_coco import (DEFAULT_CATEGORIES, SHAPES,
                                                  is_complete_toy_coco,
                                                  make_toy_coco,
                                                  toy_coco_paths)


def parse_categories(text):
    """``'star:7,cross:42'`` as ``(('star', 7), ('cross', 42))``."""
    categories = []
    for item in text.split(','):
        name, sep, category_id = item.partition(':')
        if not sep or not category_id.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f'{item!r} is not NAME:ID (e.g. star:7)')
        categories.append((name.strip(), int(category_id)))
    return tuple(categories)


def build_parser():
    parser = argparse.ArgumentParser(
        description='Write a deterministic synthetic COCO-format '
        'instance-segmentation dataset of filled shapes.')
    parser.add_argument('out_dir', help='dataset root (data_root)')
    parser.add_argument('--num-train', type=int, default=400,
                        help='number of training images')
    parser.add_argument('--num-val', type=int, default=100,
                        help='number of validation images')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--min-size', type=int, default=192,
                        help='smallest image side in pixels (>= 64)')
    parser.add_argument('--max-size', type=int, default=256,
                        help='largest image side in pixels')
    parser.add_argument(
        '--categories', type=parse_categories, default=DEFAULT_CATEGORIES,
        metavar='NAME:ID,...',
        help='classes as shape:category_id in file order, shapes from '
        f'{", ".join(SHAPES)} (default: circle:1,triangle:2,square:3)')
    parser.add_argument('--box-only', action='store_true',
                        help='annotations without segmentation')
    parser.add_argument('--force', action='store_true',
                        help='rewrite even if the dataset is already there')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    kwargs = dict(num_train=args.num_train, num_val=args.num_val,
                  seed=args.seed, min_size=args.min_size,
                  max_size=args.max_size, categories=args.categories,
                  masks=not args.box_only)
    if not args.force and is_complete_toy_coco(args.out_dir, **kwargs):
        print(f'{args.out_dir} already holds this dataset '
              '(use --force to rewrite it):')
        paths = toy_coco_paths(args.out_dir)
    else:
        try:
            paths = make_toy_coco(args.out_dir, **kwargs)
        except ValueError as error:
            parser.error(str(error))
        print(f'wrote {args.num_train} train and {args.num_val} val images '
              f'(seed {args.seed}):')
    for name, path in paths.items():
        print(f'  {name}: {path}')


if __name__ == '__main__':
    main()
