"""The options of docs/recipes.md work as written: one image per GPU,
gradient accumulation, activation checkpointing and ViTDet's LayerNorm in the
FPN and the heads, on the toy detector."""
import argparse
import re
import shlex
from pathlib import Path

import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch.nn.modules.batchnorm import _BatchNorm

REPO = Path(__file__).parents[1]


def parse_cfg_options(argv):
    """``--cfg-options`` as mmdet's tools/train.py parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_known_args(argv)[0].cfg_options


def recipe_options():
    """The options of the docs' one-GPU example."""
    docs = (REPO / 'docs' / 'recipes.md').read_text()
    line = next(line for line in docs.splitlines()
                if line.startswith('python tools/train.py') and 'LN2d' in line)
    return parse_cfg_options(shlex.split(line)[2:])


def test_the_layer_norm_options_are_those_of_the_example():
    docs = (REPO / 'docs' / 'recipes.md').read_text()
    norm_line = re.search(r'```\n(--cfg-options .*)\n```', docs).group(1)
    norm_options = parse_cfg_options(shlex.split(norm_line))
    assert len(norm_options) == 6
    assert norm_options.items() <= recipe_options().items()


def one_image(size=256):
    sample = DetDataSample(metainfo=dict(
        img_shape=(size, size), ori_shape=(size, size),
        pad_shape=(size, size), scale_factor=(1.0, 1.0)))
    masks = np.zeros((1, size, size), dtype=np.uint8)
    masks[0, 30:110, 20:120] = 1
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 30.0, 120.0, 110.0]]),
        labels=torch.tensor([1]), masks=BitmapMasks(masks, size, size))
    return dict(inputs=[torch.randint(0, 256, (3, size, size),
                                      dtype=torch.uint8)],
                data_samples=[sample])


def test_one_image_with_layer_norm_checkpointing_and_accumulation():
    cfg = Config.fromfile(str(REPO / 'configs' / 'toy_vit_tiny_maskrcnn.py'))
    cfg.merge_from_dict(recipe_options())
    assert cfg.train_dataloader.batch_size == 1
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.with_cp
    fpn, heads = model.neck[1], model.roi_head
    norms = [m for part in (fpn, heads) for m in part.modules()
             if type(m).__name__ == 'LayerNorm2d']
    # The FPN's 4 lateral and 4 output convolutions, 4 in each head.
    assert len(norms) == 16 and all(n.eps == 1e-6 for n in norms)
    assert not any(isinstance(m, _BatchNorm)
                   for part in (fpn, heads) for m in part.modules())
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert optim_wrapper._accumulative_counts == 64
    model.train()
    losses = model.train_step(one_image(), optim_wrapper)
    assert all(torch.isfinite(v) for v in losses.values())
