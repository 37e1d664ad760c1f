import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

from mmdet_vit_transfer.engine.optimizers import (
    LayerDecayOptimWrapperConstructor, is_weight_decay_exempt,
    layer_decay_scale)
from mmdet_vit_transfer.models.backbones import PlainViTPyramid
from mmdet_vit_transfer.models.layers.sample_sync_bn import \
    SampleSyncBatchNorm2d

LR, WD = 1e-3, 0.1
DEPTH = 12
NUM_LAYERS = DEPTH + 2  # patch/pos embedding, 12 blocks, the rest


class ToyDetector(nn.Module):
    """A 12-block ViT backbone with a neck and a head that hold a Linear
    and a BN each."""

    def __init__(self, **backbone_kwargs):
        super().__init__()
        self.backbone = PlainViTPyramid(
            arch=dict(embed_dims=64, depth=DEPTH, num_heads=4),
            img_size=64, pretrain_img_size=64, window_size=2,
            **backbone_kwargs)
        self.neck = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32))
        self.head = nn.Sequential(nn.Linear(32, 8), nn.BatchNorm1d(8))


def build(model, rate=0.7, **paramwise):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='LayerDecayOptimWrapperConstructor',
             optim_wrapper_cfg=dict(
                 type='OptimWrapper',
                 optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)),
             paramwise_cfg=dict(layer_decay_rate=rate, **paramwise)))
    return constructor(model)


def settings_by_name(optim_wrapper, model):
    """name -> (lr, weight_decay) of every parameter in the optimizer."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            name = names[id(p)]
            assert name not in out, f'{name} is in two groups'
            out[name] = (group['lr'], group['weight_decay'])
    return out


def expected_exempt(name):
    """The paper's list, spelled out by name for ToyDetector."""
    leaf = name.rsplit('.', 1)[-1]
    norm_layer = ('.norm1.' in name or '.norm2.' in name
                  or name.startswith(('neck.1.', 'head.1.')))
    return norm_layer or leaf in ('bias', 'q_bias', 'v_bias', 'pos_embed',
                                  'relative_position_bias_table',
                                  'rel_pos_h', 'rel_pos_w')


def expected_layer_id(name):
    if name.startswith(('backbone.patch_embed', 'backbone.pos_embed')):
        return 0
    if name.startswith('backbone.blocks.'):
        return int(name.split('.')[2]) + 1
    return NUM_LAYERS - 1


@pytest.mark.parametrize('backbone_kwargs', [
    dict(),
    dict(qkv_bias='qv', rel_pos='decomposed', layer_scale_init_value=0.1),
])
def test_lr_scale_per_block_and_weight_decay_exemptions(backbone_kwargs):
    model = ToyDetector(**backbone_kwargs)
    got = settings_by_name(build(model, rate=0.7), model)
    assert set(got) == {n for n, _ in model.named_parameters()}
    for name, (lr, wd) in got.items():
        scale = 0.7**(NUM_LAYERS - 1 - expected_layer_id(name))
        assert lr == pytest.approx(LR * scale), name
        assert wd == (0.0 if expected_exempt(name) else WD), name
    # spot checks of the formula: block i gets 0.7 ** (12 - i)
    assert got['backbone.blocks.0.attn.qkv.weight'][0] == pytest.approx(
        LR * 0.7**12)
    assert got['backbone.blocks.11.mlp.fc2.weight'][0] == pytest.approx(
        LR * 0.7)
    assert got['backbone.pos_embed'] == (pytest.approx(LR * 0.7**13), 0.0)
    assert got['head.0.weight'] == (LR, WD)
    exempt = {n for n in got if got[n][1] == 0.0}
    if backbone_kwargs:
        assert {'backbone.blocks.3.attn.q_bias', 'backbone.blocks.3.attn.v_bias',
                'backbone.blocks.3.attn.rel_pos_h'} <= exempt
        assert 'backbone.blocks.3.ls1.gamma' not in exempt
    else:
        assert ('backbone.rel_pos_window.relative_position_bias_table'
                in exempt)


def test_groups_are_merged_and_the_head_group_is_logged_first():
    model = ToyDetector()
    optim_wrapper = build(model, rate=0.7)
    groups = optim_wrapper.optimizer.param_groups
    # one decayed and one exempt group per layer
    assert len(groups) == 2 * NUM_LAYERS
    assert [g['lr'] for g in groups] == pytest.approx(
        [LR * 0.7**(i // 2) for i in range(2 * NUM_LAYERS)])
    assert groups[0]['weight_decay'] == WD
    assert 'head.0.weight' in groups[0]['param_names']
    # mmengine logs lr[0] (RuntimeInfoHook): the heads' lr
    assert optim_wrapper.get_lr()['lr'][0] == LR
    assert optim_wrapper.get_lr()['base_lr'] == [LR]

    # the paper: no decay, so only decayed / exempt
    groups = build(ToyDetector(), rate=1.0).optimizer.param_groups
    assert [(g['lr'], g['weight_decay']) for g in groups] == [(LR, WD),
                                                               (LR, 0.0)]


def test_custom_keys_multiply_on_top():
    model = ToyDetector()
    custom_keys = {
        'head': dict(lr_mult=10.0),
        'backbone.blocks.0.': dict(lr_mult=0.5, decay_mult=2.0),
    }
    optim_wrapper = build(model, rate=0.7, custom_keys=custom_keys)
    got = settings_by_name(optim_wrapper, model)
    assert got['head.0.weight'] == (pytest.approx(LR * 10), WD)
    assert got['head.1.weight'] == (pytest.approx(LR * 10), 0.0)
    assert got['backbone.blocks.0.attn.qkv.weight'] == (
        pytest.approx(LR * 0.7**12 * 0.5), pytest.approx(WD * 2))
    assert got['backbone.blocks.0.attn.qkv.bias'] == (
        pytest.approx(LR * 0.7**12 * 0.5), 0.0)
    assert got['backbone.blocks.1.attn.qkv.weight'] == (
        pytest.approx(LR * 0.7**11), WD)
    # two more groups for the head, two for block 0 replaced
    assert len(optim_wrapper.optimizer.param_groups) == 2 * NUM_LAYERS + 2
    # the logged group is still the default-lr top group
    assert optim_wrapper.get_lr()['lr'][0] == LR


def test_frozen_parameters_are_skipped_and_training_steps():
    model = ToyDetector()
    model.backbone.patch_embed.requires_grad_(False)
    optim_wrapper = build(model, rate=0.7)
    got = settings_by_name(optim_wrapper, model)
    assert not any(n.startswith('backbone.patch_embed') for n in got)
    assert 'backbone.pos_embed' in got
    x = torch.randn(2, 3, 64, 64)
    loss = sum(o.mean() for o in model.backbone(x))
    optim_wrapper.update_params(loss)


def test_built_from_a_config_in_the_mmdet_scope():
    model = ToyDetector()
    cfg = dict(type='OptimWrapper',
               constructor='LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=LR, weight_decay=WD),
               paramwise_cfg=dict(layer_decay_rate=0.7))
    with DefaultScope.overwrite_default_scope('mmdet'):
        optim_wrapper = build_optim_wrapper(model, cfg)
    assert len(optim_wrapper.optimizer.param_groups) == 2 * NUM_LAYERS


def test_backbone_without_layer_depth():
    model = nn.Module()
    model.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with pytest.raises(ValueError, match='get_layer_depth'):
        build(model, rate=0.7)
    groups = build(model, rate=1.0).optimizer.param_groups
    assert [(len(g['params']), g['weight_decay']) for g in groups] == [
        (1, WD), (3, 0.0)]
    with pytest.raises(ValueError, match='positive'):
        LayerDecayOptimWrapperConstructor(
            dict(optimizer=dict(type='AdamW', lr=LR)),
            dict(layer_decay_rate=0.0))


def test_exemption_rule():
    assert layer_decay_scale(13, 14, 0.7) == 1.0
    assert layer_decay_scale(1, 14, 0.7) == pytest.approx(0.7**12)
    linear = nn.Linear(2, 2)
    assert is_weight_decay_exempt('head.fc.bias', linear)
    assert not is_weight_decay_exempt('head.fc.weight', linear)
    for norm in (nn.LayerNorm(4), nn.GroupNorm(2, 4), nn.BatchNorm2d(4),
                 nn.SyncBatchNorm(4), SampleSyncBatchNorm2d(4),
                 nn.InstanceNorm2d(4, affine=True)):
        assert is_weight_decay_exempt('neck.norm.weight', norm)
    owner = nn.Module()
    for leaf in ('pos_embed', 'absolute_pos_embed', 'q_bias', 'v_bias',
                 'relative_position_bias_table', 'rel_pos_h', 'rel_pos_w'):
        assert is_weight_decay_exempt(f'backbone.x.{leaf}', owner)
    for leaf in ('gamma', 'cls_token', 'weight'):
        assert not is_weight_decay_exempt(f'backbone.x.{leaf}', owner)


def test_exemptions_apply_without_paramwise_cfg():
    # mmengine's default constructor skips add_params when paramwise_cfg is
    # empty, which would give norms and biases weight decay
    model = ToyDetector()
    cfg = dict(type='OptimWrapper',
               constructor='LayerDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=LR, weight_decay=WD))
    with DefaultScope.overwrite_default_scope('mmdet'):
        groups = build_optim_wrapper(model, cfg).optimizer.param_groups
    assert [(g['lr'], g['weight_decay']) for g in groups] == [(LR, WD),
                                                               (LR, 0.0)]
