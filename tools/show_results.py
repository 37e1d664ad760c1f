"""Print the last COCO evaluation of a training run as a markdown table.

    python tools/show_results.py WORK_DIR
"""
import argparse

from mmdet_vit_transfer.utils import coco_metrics_table, last_coco_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    args = parser.parse_args()
    metrics = last_coco_metrics(args.work_dir)
    print(f"Results of {args.work_dir} (epoch {metrics.get('step', '?')}):\n")
    print(coco_metrics_table(metrics))


if __name__ == '__main__':
    main()
