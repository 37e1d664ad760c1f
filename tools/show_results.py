"""Print the last COCO evaluation of a training run as a markdown table, plot
its training curves and draw its predictions on a few validation images.

    python tools/show_results.py WORK_DIR [--images 4] [--score-thr 0.5]

Writes WORK_DIR/curves.png and WORK_DIR/predictions/vis/<image> and says
where they are; prints nothing else.
"""
import argparse
import contextlib
import io
import warnings
from pathlib import Path

from mmdet_vit_transfer.utils import (coco_metrics_table, last_coco_metrics,
                                      plot_training_curves)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    parser.add_argument('--images', type=int, default=4,
                        help='validation images to draw predictions on '
                        '(0: none)')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='lowest score drawn (default: 0.5)')
    return parser


def validation_images(work_dir: Path, count: int):
    """The config mmengine dumped into ``work_dir``, the last checkpoint and
    the first ``count`` images of the validation set."""
    from mmengine.config import Config
    config = sorted(work_dir.glob('*.py'))[-1]
    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    dataset = Config.fromfile(config).val_dataloader.dataset
    image_dir = Path(dataset.data_root) / dataset.data_prefix['img']
    return config, checkpoint, sorted(image_dir.iterdir())[:count]


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    work_dir = Path(args.work_dir)
    metrics = last_coco_metrics(work_dir)
    print(f"Results of {work_dir} (epoch {metrics.get('step', '?')}):\n")
    print(coco_metrics_table(metrics))
    curves = plot_training_curves(work_dir, work_dir / 'curves.png')
    print(f'\nTraining loss and AP against iterations: {curves}')
    if args.images > 0:
        from mmdet_vit_transfer.analysis.inference import draw_predictions
        config, checkpoint, images = validation_images(work_dir, args.images)
        with warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            # mmengine's visualiser warns of its unused logging backends and
            # of boxes it clips at the image border; its checkpoint loader
            # prints the file it reads.
            warnings.simplefilter('ignore', UserWarning)
            drawn = draw_predictions(config, checkpoint, images,
                                     work_dir / 'predictions',
                                     score_thr=args.score_thr,
                                     show_progress=False)
        print(f'Predictions (score >= {args.score_thr}) drawn on '
              f'{len(drawn)} validation images: {drawn[0].drawn.parent}/')
    print(f'Logs: {work_dir}/<timestamp>/<timestamp>.log; '
          f'TensorBoard: tensorboard --logdir {work_dir}')


if __name__ == '__main__':
    main()
