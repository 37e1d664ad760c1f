"""Draw a detector's predictions on images and save them.

    python tools/infer.py CONFIG CHECKPOINT IMAGE_OR_FOLDER... \
        [--out-dir DIR] [--score-thr 0.3] [--device cpu] [--ann-file FILE]

Writes DIR/vis/<image name> (boxes, masks, class names and scores of the
predictions at or above --score-thr), DIR/preds/<image stem>.json (all
predictions), through mmdet's DetInferencer, and DIR/results.json: all
predictions as a COCO results file with the dataset's category ids and class
names (image ids from --ann-file, or 1, 2, ... in order).
"""
import argparse
from pathlib import Path

from mmdet_vit_transfer.analysis.inference import (RESULTS_FILE,
                                                   draw_predictions)
from mmdet_vit_transfer.utils import user_errors_exit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', metavar='IMAGE',
                        help='image file or folder of images')
    parser.add_argument('--out-dir', default='predictions')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='lowest score drawn (default: 0.3)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--ann-file', help='COCO annotation file listing the images: '
        'results.json then uses its image and category ids')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with user_errors_exit():
        drawn = draw_predictions(args.config, args.checkpoint, args.images,
                                 args.out_dir, score_thr=args.score_thr,
                                 device=args.device, ann_file=args.ann_file)
    for item in drawn:
        print(f'{item.image} -> {item.drawn}, {item.predictions}')
    print(f'COCO results: {Path(args.out_dir) / RESULTS_FILE}')
    return drawn


if __name__ == '__main__':
    main()
