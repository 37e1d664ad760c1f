"""Turn a stage-1 checkpoint of direct detection pre-training into the
starting point of stage 2.

Example::

    python tools/handoff_checkpoint.py \
        work_dirs/maskrcnn_vitb_direct_stage1/epoch_12.pth \
        configs/direct/maskrcnn_vitb_direct_stage2.py \
        work_dirs/maskrcnn_vitb_direct_stage1/handoff.pth

Keeps the whole detector, drops the optimizer and schedule state, resizes
position embeddings and relative-position tables to the stage-2 grid, fails
on any other difference, and prints the load report. Stage 2 then starts with
``load_from`` set to the written file.
"""
import argparse

from mmdet_vit_transfer.engine import handoff_checkpoint
from mmdet_vit_transfer.utils import check_checkpoint_file, user_errors_exit
from mmdet_vit_transfer.utils.errors import input_errors


def build_parser():
    parser = argparse.ArgumentParser(
        description='Turn a stage-1 detector checkpoint (direct detection '
        'pre-training) into the starting point of its stage-2 config.')
    parser.add_argument('stage1_checkpoint',
                        help='checkpoint written by stage-1 training')
    parser.add_argument('stage2_config', help='config of stage 2')
    parser.add_argument('out', help='file to write, for load_from of stage 2')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    with user_errors_exit(), input_errors(
            f'cannot hand {args.stage1_checkpoint} off to '
            f'{args.stage2_config}'):
        check_checkpoint_file(args.stage1_checkpoint)
        report = handoff_checkpoint(args.stage1_checkpoint,
                                    args.stage2_config, args.out)
    print(report)
    print(f'Wrote {args.out}: start stage 2 with load_from={args.out!r}')
    return report


if __name__ == '__main__':
    main()
