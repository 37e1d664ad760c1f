"""``--amp``: mmdet's flag writes 'AmpOptimWrapper'; the runner builds
mmengine's own wrapper where there is an accelerator and, on a CPU,
CPUBFloat16AmpOptimWrapper, which trains the toy detector with the backbone
and neck in bfloat16 and the heads in float32."""
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from mmdet.registry import DATASETS, MODELS, OPTIM_WRAPPERS

from mmdet_vit_transfer.datasets.toy_coco import make_toy_coco
from mmdet_vit_transfer.engine.optimizers import (CPUBFloat16AmpOptimWrapper,
                                                  select_amp_optim_wrapper)


@pytest.mark.parametrize('configured', ['AmpOptimWrapper',
                                        'mmengine.AmpOptimWrapper'])
def test_amp_is_mmengines_own_on_an_accelerator(configured):
    assert select_amp_optim_wrapper(configured, accelerator=True) == \
        configured
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert OPTIM_WRAPPERS.get(configured) is AmpOptimWrapper


def test_amp_becomes_the_bfloat16_wrapper_on_a_cpu():
    assert select_amp_optim_wrapper('AmpOptimWrapper', accelerator=False) \
        == 'CPUBFloat16AmpOptimWrapper'
    for other in ('OptimWrapper', 'SkipNonFiniteOptimWrapper'):
        for accelerator in (True, False):
            assert select_amp_optim_wrapper(other, accelerator) == other


def test_the_runner_selects_the_wrapper(monkeypatch):
    from mmdet_vit_transfer.engine import runner as runner_module
    from mmdet_vit_transfer.engine.optimizers import amp

    seen = []
    monkeypatch.setattr(
        runner_module.Runner, 'build_optim_wrapper',
        lambda self, cfg: seen.append(cfg['type']))
    runner = runner_module.TransferRunner.__new__(
        runner_module.TransferRunner)
    for accelerator in (True, False):
        monkeypatch.setattr(amp, 'has_accelerator', lambda: accelerator)
        runner.build_optim_wrapper(
            dict(type='AmpOptimWrapper', optimizer=dict(type='SGD')))
    assert seen == ['AmpOptimWrapper', 'CPUBFloat16AmpOptimWrapper']


cpu_only = pytest.mark.skipif(torch.cuda.is_available(),
                              reason='tests the CPU path')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_coco(root, num_train=4, num_val=1)
    cfg = Config.fromfile('configs/toy_vit_tiny_maskrcnn.py')
    cfg.train_dataloader.dataset.data_root = str(root)
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        batch = pseudo_collate([dataset[i] for i in range(2)])
    return cfg, batch


def build(cfg, amp: bool):
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        wrapper_cfg = cfg.optim_wrapper.copy()
        if amp:  # what mmdet's tools/train.py --amp and the runner do
            wrapper_cfg.type = select_amp_optim_wrapper('AmpOptimWrapper')
            wrapper_cfg.loss_scale = 'dynamic'
        return model, build_optim_wrapper(model, wrapper_cfg)


@cpu_only
def test_amp_flag_resolves_to_the_bfloat16_wrapper(toy):
    model, wrapper = build(toy[0], amp=True)
    assert isinstance(wrapper, CPUBFloat16AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16
    assert 'loss_scaler' not in wrapper.state_dict()
    # A GPU checkpoint's loss scaler is ignored on resume.
    state = dict(wrapper.state_dict(), loss_scaler={'scale': 1024.0})
    wrapper.load_state_dict(state)


def test_float16_on_cpu_is_refused():
    with DefaultScope.overwrite_default_scope('mmdet'):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                    lr=0.1)
        with pytest.raises(ValueError, match='bfloat16'):
            OPTIM_WRAPPERS.build(
                dict(type='CPUBFloat16AmpOptimWrapper', dtype='float16',
                     optimizer=optimizer))


@cpu_only
def test_train_step_backbone_in_bf16_heads_in_fp32(toy):
    cfg, batch = toy
    dtypes = {}

    def record(name):
        def hook(module, args, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            dtypes[name] = out.dtype
        return hook

    reference, ref_wrapper = build(cfg, amp=False)
    model, wrapper = build(cfg, amp=True)
    model.backbone.blocks[0].mlp.fc1.register_forward_hook(record('mlp'))
    model.neck.register_forward_hook(record('neck'))
    model.rpn_head.rpn_conv.register_forward_hook(record('rpn'))
    model.roi_head.bbox_head.register_forward_hook(record('bbox'))

    with DefaultScope.overwrite_default_scope('mmdet'):
        before = model.backbone.patch_embed.proj.weight.detach().clone()
        log = model.train_step(batch, wrapper)
        ref_log = reference.train_step(batch, ref_wrapper)
    assert dtypes == dict(mlp=torch.bfloat16, neck=torch.float32,
                          rpn=torch.float32, bbox=torch.float32)
    assert all(torch.isfinite(v) for v in log.values())
    assert not torch.equal(before, model.backbone.patch_embed.proj.weight)
    # Same weights, same data: the losses agree within bfloat16 precision.
    for key in ('loss_rpn_cls', 'loss_cls'):
        torch.testing.assert_close(log[key], ref_log[key], rtol=0.05,
                                   atol=0.02)

    # Outside training steps (validation, tests) nothing is autocast.
    dtypes.clear()
    with torch.no_grad():
        model.backbone(torch.zeros(1, 3, 64, 64))
    assert dtypes['mlp'] == torch.float32
