"""Convert a published ViT or iTPN checkpoint into the names of this
package's backbones (PlainViTPyramid, ITPNHiViT).

Example::

    python tools/convert_checkpoint.py mae_pretrain_vit_base.pth \
        checkpoints/mae_vitb.pth --format auto
    python tools/convert_checkpoint.py ViT-B-16.pt checkpoints/clip_vitb16.pth

Writes ``{'state_dict': ...}`` with the backbone keys only (no prefix) and
prints the detected format and what was dropped. Loading either file, the
published or the converted one, goes through the same
``mmdet_vit_transfer.checkpoints.load_pretrained`` (for iTPN too;
docs/itpn.md).
"""
import argparse
import pickle

from mmdet_vit_transfer.checkpoints import FORMATS, convert_file
from mmdet_vit_transfer.utils import check_checkpoint_file, user_errors_exit
from mmdet_vit_transfer.utils.errors import INPUT_ERROR_TYPES, input_errors


def build_parser():
    parser = argparse.ArgumentParser(
        description='Convert a published ViT checkpoint (MAE, DeiT/timm, '
        'MoCo v3, BEiT, mmpretrain zoo, DINOv2, DeiT III, BEiT v2, CLIP, '
        'SigLIP, SAM; pickles, .safetensors or TorchScript) for '
        'PlainViTPyramid, or an iTPN checkpoint (official pixel / CLIP, '
        'mmpretrain) for ITPNHiViT.')
    parser.add_argument('src', help='published checkpoint (file or URL)')
    parser.add_argument('dst', help='converted checkpoint to write')
    parser.add_argument('--format', default='auto',
                        choices=['auto', *FORMATS],
                        help='source format (default: detect it)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # A file that is not a checkpoint, a layout that no format matches, a
    # pickle that would run code: one line each.
    with user_errors_exit(), input_errors(
            f'cannot convert {args.src}',
            INPUT_ERROR_TYPES + (pickle.UnpicklingError, )):
        check_checkpoint_file(args.src)
        report = convert_file(args.src, args.dst, args.format)
    print(report)
    print(f'Wrote {args.dst} (format: {report.format})')
    return report


if __name__ == '__main__':
    main()
