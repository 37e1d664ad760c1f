"""The iTPN configs: the authors' Mask R-CNN 1x recipe (docs/itpn.md)
for iTPN-B/L with pixel and CLIP pre-training, the same four under this
package's LSJ protocol, and the random-FPN ablation; each with a documented
checkpoint, and built into a detector whose layer-decay groups follow the
recipe."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

import mmdet_vit_transfer  # noqa: F401  (registers ITPNHiViT)

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
DOCS = Path(__file__).resolve().parents[2] / 'docs/itpn.md'
# size: (arch, layer decay, drop path, blocks entries)
RECIPE = {'b': ('base', 0.90, 0.05, 32), 'l': ('large', 0.95, 0.2, 46)}
LR, WD = 2e-4, 0.05
EXPERIMENTS = [(size, init, schedule) for size in RECIPE
               for init in ('pixel', 'clip')
               for schedule in ('1x', 'lsj_100e')]


def config_name(size, init, schedule):
    return f'itpn_{size}_{init}_maskrcnn_{schedule}.py'


def build_detector(cfg):
    init_default_scope('mmdet')
    model_cfg = cfg.model.copy()
    model_cfg.backbone.pop('init_cfg')
    with torch.device('meta'):
        return MODELS.build(model_cfg)


def test_configs_are_complete_and_nothing_else():
    found = {p.name for p in CONFIGS.glob('itpn_*.py')}
    assert found == {config_name(*cell) for cell in EXPERIMENTS} | {
        'itpn_b_pixel_maskrcnn_1x_random_fpn.py'}


@pytest.mark.parametrize('size,init,schedule', EXPERIMENTS,
                         ids=[config_name(*c)[:-3] for c in EXPERIMENTS])
def test_recipe(size, init, schedule):
    cfg = Config.fromfile(CONFIGS / config_name(size, init, schedule))
    arch, layer_decay, drop_path, entries = RECIPE[size]
    backbone = cfg.model.backbone
    assert backbone.type == 'ITPNHiViT' and backbone.arch == arch
    assert backbone.drop_path_rate == drop_path
    assert backbone.fpn_depth == 1 and backbone.fpn_dim == 256
    assert cfg.model.neck is None
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == LR
    assert cfg.optim_wrapper.optimizer.weight_decay == WD
    assert cfg.optim_wrapper.constructor == \
        'LayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == layer_decay

    clip = init == 'clip'
    assert backbone.get('layer_scale_init_value', 0) == (0.1 if clip else 0)
    init_cfg = backbone.init_cfg
    assert init_cfg.type == 'Pretrained'
    assert init_cfg.abs_pos_init == 'pretrained'
    assert init_cfg.checkpoint == \
        f'checkpoints/itpn_{init}_{arch}.pth'
    assert Path(init_cfg.checkpoint).name in DOCS.read_text()

    if schedule == '1x':
        # The published detector and schedule.
        assert backbone.get('rel_pos') == ('decomposed' if clip else None)
        assert init_cfg.rel_pos_init == ('zero' if clip else 'none')
        assert cfg.train_cfg.max_epochs == 12
        warmup, steps = cfg.param_scheduler
        assert (warmup.type, warmup.by_epoch, warmup.end) == ('LinearLR',
                                                              False, 500)
        assert (steps.type, steps.milestones, steps.gamma) == (
            'MultiStepLR', [9, 11], 0.1)
        assert cfg.train_dataloader.batch_size * 32 == 64
        assert cfg.auto_scale_lr.base_batch_size == 64
        assert cfg.model.data_preprocessor.batch_augments is None
        assert cfg.model.data_preprocessor.pad_size_divisor == 32
        assert cfg.model.rpn_head.num_convs == 1
        bbox_head = cfg.model.roi_head.bbox_head
        assert bbox_head.reg_decoded_bbox and \
            bbox_head.loss_bbox.type == 'GIoULoss' and \
            bbox_head.loss_bbox.loss_weight == 10.0
        assert cfg.model.roi_head.mask_head.norm_cfg is None
        assert [t.type for t in cfg.train_pipeline][3] == 'RandomChoice'
    else:
        # This package's protocol: LSJ at 1024, cosine, the ViT grid's heads.
        assert backbone.get('rel_pos') == ('table' if clip else None)
        assert init_cfg.rel_pos_init == ('pretrained' if clip else 'none')
        assert cfg.train_cfg.max_epochs == 100
        assert [s.type for s in cfg.param_scheduler] == [
            'LinearLR', 'CosineAnnealingLR']
        assert 'LargeScaleJitter' in [t.type for t in cfg.train_pipeline]
        assert cfg.model.rpn_head.num_convs == 2
        assert 'GIoULoss' not in str(cfg.model.roi_head.bbox_head)

    model = build_detector(cfg)
    assert len(model.backbone.blocks) == entries
    assert not model.with_neck
    if clip:
        attn = model.backbone.blocks[-1].attn
        assert (attn.use_decomposed_rel_pos, hasattr(
            attn, 'relative_position_bias_table')) == (
                (True, False) if schedule == '1x' else (False, True))

    # The layer-decay groups of the recipe on the built detector.
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type=cfg.optim_wrapper.constructor,
             optim_wrapper_cfg=dict(type='OptimWrapper',
                                    optimizer=cfg.optim_wrapper.optimizer),
             paramwise_cfg=cfg.optim_wrapper.paramwise_cfg))
    optimizer = constructor(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    got = {names[id(p)]: (g['lr'], g['weight_decay'])
           for g in optimizer.param_groups for p in g['params']}
    top = entries + 1
    assert got['roi_head.bbox_head.fc_cls.weight'] == (LR, WD)
    assert got['backbone.fpn_modules.2.mlp.fc1.weight'] == (LR, WD)
    assert got['backbone.patch_embed.proj.weight'][0] == pytest.approx(
        LR * layer_decay**top)
    assert got[f'backbone.blocks.{entries - 1}.attn.qkv.weight'][0] == \
        pytest.approx(LR * layer_decay)
    assert got['backbone.absolute_pos_embed'][1] == 0.0
    if clip:
        gamma = got[f'backbone.blocks.{entries - 1}.ls1.gamma'][1]
        assert gamma == (0.0 if schedule == '1x' else WD)


def test_random_fpn_ablation():
    cfg = Config.fromfile(CONFIGS / 'itpn_b_pixel_maskrcnn_1x_random_fpn.py')
    assert cfg.model.backbone.out_type == 'stages'
    assert cfg.model.neck.type == 'FPN'
    model = build_detector(cfg)
    assert model.neck.in_channels == model.backbone.out_channels == [
        128, 256, 512]
    assert model.neck.num_outs == 5
    assert not hasattr(model.backbone, 'fpn_modules')
    with torch.device('meta'):
        feats = model.extract_feat(torch.empty(1, 3, 800, 1216))
    assert [f.shape[-1] for f in feats] == [304, 152, 76, 38, 19]
