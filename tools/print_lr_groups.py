"""Print the optimizer's parameter groups of a config, without training.

    python tools/print_lr_groups.py CONFIG [--cfg-options KEY=VALUE ...]
    python tools/print_lr_groups.py configs/mae_vitb_maskrcnn_100e.py \
        --cfg-options optim_wrapper.paramwise_cfg.layer_decay_rate=0.7

One row per group: the layer ids of its parameters (layer-wise lr decay's:
0 the embeddings, i + 1 block i, the rest on top), its lr multiplier and lr
(before the schedule's warm-up and decay), its weight decay, its tensors and
parameters and the first names; the frozen parameters last. Training logs
the same table once, when it builds the optimizer. The model is built
without its weights, so the config's checkpoint need not be at hand.
"""
import argparse

from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmdet_vit_transfer.analysis.complexity import load_config
from mmdet_vit_transfer.engine.optimizers.lr_groups import (config_lr_groups,
                                                            format_lr_groups)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help="config file, or 'mmdet::<path>'")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    # The optimizer's own log of the table is not wanted here.
    MMLogger.get_instance('print_lr_groups', log_level='WARNING')
    rows = config_lr_groups(cfg)
    print(f'{args.config}\n\n{format_lr_groups(rows)}')
    return rows


if __name__ == '__main__':
    main()
