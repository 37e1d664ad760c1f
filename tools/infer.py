"""Draw a detector's predictions on images and save them.

    python tools/infer.py CONFIG CHECKPOINT IMAGE_OR_FOLDER... \
        [--out-dir DIR] [--score-thr 0.3] [--device cpu] [--ann-file FILE]
        [--on-unreadable-image error|skip]

Writes DIR/vis/<image name> (boxes, masks, class names and scores of the
predictions at or above --score-thr), DIR/preds/<image stem>.json (all
predictions), through mmdet's DetInferencer, and DIR/results.json: all
predictions as a COCO results file with the dataset's category ids and class
names (image ids from --ann-file, or 1, 2, ... in order). An image that
cannot be loaded stops it with one line naming the file, or with
--on-unreadable-image skip is logged, left out and counted at the end.
"""
import argparse
from pathlib import Path

from mmdet_vit_transfer.analysis.inference import (RESULTS_FILE,
                                                   UNREADABLE_IMAGE_POLICIES,
                                                   draw_predictions,
                                                   readable_images)
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
    parser.add_argument('--on-unreadable-image', default='error',
                        choices=UNREADABLE_IMAGE_POLICIES,
                        help='an image that cannot be loaded stops the run '
                        '(default) or is skipped and counted')
    parser.add_argument(
        '--ann-file', help='COCO annotation file listing the images: '
        'results.json then uses its image and category ids')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with user_errors_exit():
        images, unreadable = readable_images(args.images,
                                             args.on_unreadable_image)
        drawn = draw_predictions(args.config, args.checkpoint, images,
                                 args.out_dir, score_thr=args.score_thr,
                                 device=args.device, ann_file=args.ann_file)
    for item in drawn:
        print(f'{item.image} -> {item.drawn}, {item.predictions}')
    print(f'COCO results: {Path(args.out_dir) / RESULTS_FILE}')
    if unreadable:
        print(f'{len(unreadable)} images could not be loaded and were '
              'skipped: ' + '; '.join(map(str, unreadable)))
    return drawn


if __name__ == '__main__':
    main()
