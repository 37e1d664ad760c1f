"""The iTPN backbone: HiViT geometry, output maps, parameter counts of the
published sizes, layer-wise lr decay, and the toy detector built on it."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpretrain.models.backbones.hivit import Attention as HiViTAttention
from subprocess_runs import LOAD_FACTOR, run

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.models.backbones import ITPNHiViT
from mmdet_vit_transfer.models.backbones.itpn import ARCH_SETTINGS
from mmdet_vit_transfer.models.layers.cpu_fused_attention import \
    OffsetGridBias
from mmdet_vit_transfer.models.layers.vit_geometry import (
    offset_grid_bias, relative_offset_grid, relative_table_size,
    resize_relative_table)
from mmdet_vit_transfer.utils import (last_coco_metrics,
                                      mmengine_checkpoint_globals)

CONFIGS = Path(__file__).parents[2] / 'configs'
TINY = dict(embed_dims=64, depths=(1, 2, 3), num_heads=4)
STRIDES = (4, 8, 16, 32, 64)
#: Published backbone sizes (iTPN paper): iTPN-B 79 M, iTPN-L 288 M.
PUBLISHED_PARAMS = {'base': 79e6, 'large': 288e6}


def tiny_itpn(**kwargs):
    options = dict(arch=TINY, img_size=64, pretrain_img_size=64, fpn_dim=32)
    options.update(kwargs)
    model = ITPNHiViT(**options)
    model.init_weights()
    return model


# --- geometry ---------------------------------------------------------------

def hivit_table_size(hw):
    return relative_table_size(hw, num_cls_rows=0)


def hivit_relative_position_bias(table, table_hw, hw):
    return offset_grid_bias(relative_offset_grid(table, table_hw, hw, 0))


def resize_hivit_table(table, src_hw, dst_hw):
    return resize_relative_table(table, src_hw, dst_hw, num_cls_rows=0)


def test_bias_uses_hivits_index_layout():
    """Same bias as mmpretrain's HiViT attention builds from its own
    relative_position_index for a grid of its input size."""
    reference = HiViTAttention(5, 32, 4, rpe=True)
    table = torch.randn(hivit_table_size((5, 5)), 4)
    index = reference.relative_position_index.view(-1)
    expected = table[index].view(25, 25, 4).permute(2, 0, 1)
    assert torch.equal(hivit_relative_position_bias(table, (5, 5), (5, 5)),
                       expected)


def test_resized_table_is_the_beit_resize_of_its_offsets():
    table = torch.randn(hivit_table_size((4, 4)), 3)
    with_cls = torch.cat([table, torch.randn(3, 3)])
    expected = resize_relative_table(with_cls, (4, 4), (7, 9))[:-3]
    assert torch.allclose(resize_hivit_table(table, (4, 4), (7, 9)),
                          expected)
    assert resize_hivit_table(table, (4, 4), (4, 4)) is table
    with pytest.raises(ValueError, match='has 49 rows, got 50'):
        resize_hivit_table(torch.zeros(50, 3), (4, 4), (8, 8))
    # A table read at another grid is resized on the fly.
    bias = hivit_relative_position_bias(table, (4, 4), (7, 9))
    assert bias.shape == (3, 63, 63)
    assert torch.allclose(
        bias, hivit_relative_position_bias(
            resize_hivit_table(table, (4, 4), (7, 9)), (7, 9), (7, 9)))


# --- outputs ----------------------------------------------------------------

@pytest.mark.parametrize('hw', [(1024, 1024), (800, 1216), (1344, 800)])
@pytest.mark.parametrize('arch', ['base', 'large'])
def test_published_sizes_give_five_256_channel_maps(arch, hw):
    # Shapes only: the meta device runs the forward without compute.
    with torch.device('meta'):
        outs = ITPNHiViT(arch=arch)(torch.empty(1, 3, *hw))
    h16, w16 = hw[0] // 16, hw[1] // 16
    expected = [(hw[0] // 4, hw[1] // 4), (hw[0] // 8, hw[1] // 8),
                (h16, w16), (h16 // 2, w16 // 2), (h16 // 4, w16 // 4)]
    assert [tuple(o.shape) for o in outs] == [(1, 256, *s) for s in expected]


@pytest.mark.parametrize('hw', [(64, 64), (96, 160), (80, 112)])
def test_tiny_strides_and_channels(hw):
    model = tiny_itpn().eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, *hw))
    h16, w16 = hw[0] // 16, hw[1] // 16
    expected = [(hw[0] // 4, hw[1] // 4), (hw[0] // 8, hw[1] // 8),
                (h16, w16), (h16 // 2, w16 // 2), (h16 // 4, w16 // 4)]
    assert [tuple(o.shape) for o in outs] == [(2, 32, *s) for s in expected]
    assert model.out_channels == [32] * 5
    stages = tiny_itpn(out_type='stages').eval()
    with torch.no_grad():
        outs = stages(torch.randn(2, 3, *hw))
    assert [tuple(o.shape) for o in outs] == [
        (2, 16, *expected[0]), (2, 32, *expected[1]), (2, 64, h16, w16)]
    assert stages.out_channels == [16, 32, 64]
    assert not any(n.startswith(('fpn_modules', 'split_', 'block_',
                                 'align_dim_'))
                   for n, _ in stages.named_parameters())


def test_input_sides_must_be_multiples_of_16():
    with pytest.raises(ValueError, match='multiples of 16, got 72x64'):
        tiny_itpn()(torch.randn(1, 3, 72, 64))


@pytest.mark.parametrize('arch', ['base', 'large'])
def test_parameter_counts_are_the_published_ones(arch):
    with torch.device('meta'):
        model = ITPNHiViT(arch=arch)
    total = sum(p.numel() for p in model.parameters())
    encoder = sum(p.numel() for n, p in model.named_parameters()
                  if n.startswith(('patch_embed.', 'absolute_pos_embed',
                                   'blocks.')))
    print(f'iTPN-{arch[0].upper()}: encoder {encoder / 1e6:.2f} M, pyramid '
          f'{(total - encoder) / 1e6:.2f} M, total {total / 1e6:.2f} M')
    assert encoder == pytest.approx(PUBLISHED_PARAMS[arch], rel=0.02)
    assert 3e6 < total - encoder < 4.5e6  # one MLP block per pyramid step
    assert len(model.blocks) == sum(ARCH_SETTINGS[arch]['depths']) + 2


def test_published_block_layout():
    with torch.device('meta'):
        base = ITPNHiViT('base', drop_path_rate=0.1)
    kinds = [type(b).__name__ for b in base.blocks]
    assert kinds == (['BlockWithRPE'] * 3 + ['PatchMerge'] +
                     ['BlockWithRPE'] * 3 + ['PatchMerge'] +
                     ['HiViTBlock'] * 24)
    assert base.blocks[-1].attn.num_heads == 8
    assert base.absolute_pos_embed.shape == (1, 14 * 14, 512)
    # Stochastic depth grows linearly over the 30 MLP and attention blocks.
    drop = [b.drop_path.drop_prob for b in base.blocks
            if hasattr(b, 'drop_path') and hasattr(b.drop_path, 'drop_prob')]
    assert drop == pytest.approx([0.1 * i / 29 for i in range(1, 30)])


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='huge'), "arch must be one of"),
    (dict(arch=dict(embed_dims=66, depths=(1, 1, 1), num_heads=3)),
     'divisible by 4'),
    (dict(arch=dict(embed_dims=64, depths=(1, 1), num_heads=4)),
     'depths must be'),
    (dict(arch=dict(embed_dims=64, num_heads=4)), "lacks \\['depths'\\]"),
    (dict(out_type='fpn'), 'out_type must be one of'),
    (dict(rel_pos='shared_table'), "is now rel_pos='table'"),
    (dict(rel_pos='beit'), 'rel_pos must be one of'),
    (dict(img_size=1000), 'img_size must be a positive multiple of 16'),
    (dict(drop_path_rate=1.0), 'drop_path_rate'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_itpn(**kwargs)


@pytest.mark.parametrize('rel_pos', [None, 'table', 'decomposed'])
def test_forward_backward_and_checkpointing(rel_pos):
    """Every parameter gets a gradient; activation checkpointing changes
    neither outputs nor gradients."""
    x = torch.randn(2, 3, 64, 96)
    results = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = tiny_itpn(rel_pos=rel_pos, layer_scale_init_value=0.1,
                          drop_path_rate=0.0, with_cp=with_cp)
        with torch.no_grad():  # non-zero relative positions
            for name, p in model.named_parameters():
                if 'rel' in name:
                    p.normal_(std=0.5)
        outs = model(x)
        sum((o * o).mean() for o in outs).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert missing == []
        results.append((outs, [p.grad for p in model.parameters()]))
    for a, b in zip(results[0][0] + tuple(results[0][1]),
                    results[1][0] + tuple(results[1][1])):
        assert torch.allclose(a, b, atol=1e-5)


def test_backends_give_the_same_outputs_and_gradients():
    """The generic path, and the fused CPU kernel with the blocks' biases
    whole or served by query rows (an OffsetGridBias): same outputs and
    gradients."""
    x = torch.randn(2, 3, 64, 96)  # a 4x6 grid at stride 16
    model = tiny_itpn(rel_pos='table', drop_path_rate=0.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'rel' in name:
                p.normal_(std=0.5)
    by_rows = dict(type='cpu_fused', block_elements=4 * 2 * 6 * 24,
                   min_queries_per_call=1)  # two grid rows
    table = model.blocks[-1].attn.relative_position_bias_table
    state = model.state_dict()
    results = []
    for backend in ('sdpa', 'cpu_fused', by_rows):
        model = tiny_itpn(rel_pos='table', drop_path_rate=0.0,
                          attn_backend=backend)
        model.load_state_dict(state)
        if backend == by_rows:
            assert isinstance(
                model.blocks[-1].attn.table_bias(
                    relative_offset_grid(table, (4, 4), (4, 6), 0), x),
                OffsetGridBias)
        outs = model(x)
        sum((o * o).mean() for o in outs).backward()
        results.append(outs + tuple(p.grad for p in model.parameters()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_random_init():
    model = tiny_itpn(rel_pos='table', layer_scale_init_value=0.1)
    assert not model.blocks[-1].attn.relative_position_bias_table.any()
    assert model.blocks[-1].ls1.gamma.eq(0.1).all()
    assert model.blocks[0].gamma_2.eq(0.1).all()
    assert 0.015 < model.blocks[-1].mlp.fc1.weight.std() < 0.025
    assert not model.split_16to8.norm.bias.any()
    assert 0.015 < model.absolute_pos_embed.std() < 0.025


# --- layer-wise lr decay ----------------------------------------------------

class ToyDetector(nn.Module):
    """A tiny iTPN backbone (2 + 3 MLP blocks, 2 merges, 3 attention
    blocks: 10 entries, 12 layers) and a head with a Linear and a BN."""

    def __init__(self, **backbone_kwargs):
        super().__init__()
        self.backbone = tiny_itpn(arch=dict(TINY, depths=(2, 3, 3)),
                                  **backbone_kwargs)
        self.head = nn.Sequential(nn.Linear(32, 8), nn.BatchNorm1d(8))


LR, WD, RATE = 2e-4, 0.05, 0.9
NUM_LAYERS = 10 + 2


def expected_layer_id(name):
    """The specification: patch and absolute position embedding 0, entry
    ``i`` of ``blocks`` (MLP block, patch merge or attention block) i + 1,
    the pyramid and the heads the top."""
    if name.startswith(('backbone.patch_embed.',
                        'backbone.absolute_pos_embed')):
        return 0
    if name.startswith('backbone.blocks.'):
        return int(name.split('.')[2]) + 1
    return NUM_LAYERS - 1


@pytest.mark.parametrize('rel_pos', ['table', 'decomposed'])
def test_layer_decay_groups(rel_pos):
    model = ToyDetector(rel_pos=rel_pos, layer_scale_init_value=0.1)
    assert model.backbone.get_layer_depth('backbone.blocks.9.attn.qkv.weight'
                                          ) == (10, NUM_LAYERS)
    assert model.backbone.get_layer_depth('head.0.weight') == (11, 12)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='LayerDecayOptimWrapperConstructor',
             optim_wrapper_cfg=dict(
                 type='OptimWrapper',
                 optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)),
             paramwise_cfg=dict(layer_decay_rate=RATE)))
    optim_wrapper = constructor(model)
    names = {id(p): n for n, p in model.named_parameters()}
    got = {names[id(p)]: (g['lr'], g['weight_decay'])
           for g in optim_wrapper.optimizer.param_groups for p in g['params']}
    assert set(got) == set(names.values())
    no_decay = ('norm', 'bias', 'absolute_pos_embed',
                'relative_position_bias_table', 'rel_pos_h', 'rel_pos_w',
                'head.1.')
    for name, (lr, wd) in got.items():
        scale = RATE**(NUM_LAYERS - 1 - expected_layer_id(name))
        assert lr == pytest.approx(LR * scale), name
        exempt = any(key in name for key in no_decay)
        assert wd == (0.0 if exempt else WD), name
    # Spot checks: the stem's first MLP block, the first merge, the last
    # attention block, the pyramid.
    assert got['backbone.blocks.0.mlp.fc1.weight'][0] == pytest.approx(
        LR * RATE**10)
    assert got['backbone.blocks.2.reduction.weight'][0] == pytest.approx(
        LR * RATE**8)
    assert got['backbone.blocks.9.mlp.fc2.weight'][0] == pytest.approx(
        LR * RATE)
    assert got['backbone.split_16to8.reduction.weight'] == (LR, WD)
    assert got['backbone.absolute_pos_embed'] == (
        pytest.approx(LR * RATE**11), 0.0)
    assert got['backbone.blocks.9.ls1.gamma'][1] == WD


# --- the toy detector -------------------------------------------------------

def sample(num_objects, size=256, seed=0):
    rng = np.random.default_rng(seed)
    data_sample = DetDataSample(metainfo=dict(
        img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size),
        scale_factor=(1.0, 1.0), batch_input_shape=(size, size)))
    instances = InstanceData()
    xy = rng.uniform(0, size / 2, (num_objects, 2))
    wh = rng.uniform(20, size / 2, (num_objects, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    masks = np.zeros((num_objects, size, size), np.uint8)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
        m[y1:y2, x1:x2] = 1
    instances.bboxes = torch.from_numpy(boxes).reshape(-1, 4)
    instances.labels = torch.from_numpy(rng.integers(0, 3, num_objects))
    instances.masks = BitmapMasks(masks, size, size)
    data_sample.gt_instances = instances
    return data_sample


def test_toy_detector_trains_without_neck():
    """The toy config: the pyramid feeds RPN and RoI heads directly."""
    cfg = Config.fromfile(CONFIGS / 'toy_itpn_tiny_maskrcnn.py')
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == 'ITPNHiViT'
    assert not model.with_neck
    model.train()
    losses = model.loss(torch.randn(2, 3, 256, 256),
                        [sample(3, seed=0), sample(0, seed=1)])
    total = sum(v if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.blocks[-1].attn.qkv.weight.grad is not None
    assert model.backbone.fpn_modules[0].mlp.fc1.weight.grad is not None


@pytest.mark.slow
def test_toy_set_trains_end_to_end(tmp_path):
    """``mim train mmdet configs/toy_itpn_tiny_maskrcnn.py`` on 16 toy
    images: one epoch of 4 iterations, then the evaluation."""
    make_toy_coco(tmp_path / 'data' / 'toy_coco', num_train=16, num_val=4)
    work_dir = tmp_path / 'work'
    mim = Path(sys.executable).parent / 'mim'
    cmd = [
        str(mim), 'train', 'mmdet',
        str(CONFIGS / 'toy_itpn_tiny_maskrcnn.py'), '--work-dir',
        str(work_dir), '--cfg-options', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1',
        *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
          for key in ('num_workers=0', 'persistent_workers=False')),
        'randomness.seed=0'
    ]
    env = dict(os.environ, PATH=f'{mim.parent}:{os.environ["PATH"]}')
    result = run(cmd, timeout=400 * LOAD_FACTOR, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.output[-5000:]
    metrics = last_coco_metrics(work_dir)
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0.0 <= metrics[key] <= 1.0
    with mmengine_checkpoint_globals():
        ckpt = torch.load(work_dir / 'epoch_1.pth', map_location='cpu',
                          weights_only=True)
    assert ckpt['meta']['iter'] == 4  # 16 images, batch 4
    state = ckpt['state_dict']
    assert 'backbone.fpn_modules.0.mlp.fc1.weight' in state
    assert not any(key.startswith('neck.') for key in state)
