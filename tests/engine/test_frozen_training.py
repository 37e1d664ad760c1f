"""Training with a frozen or partly frozen backbone (``frozen_stages``): the
optimizer leaves frozen parameters out (no group, no state, no weight decay,
no layer-decay group) and counts them apart in its table; they stay frozen
through a save and resume and under DDP without
``find_unused_parameters``."""
import io

import pytest
import torch
import torch.nn as nn
from gloo_ranks import run_on_two_ranks
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

from mmdet_vit_transfer.engine.optimizers.lr_groups import (format_lr_groups,
                                                            lr_group_rows)
from mmdet_vit_transfer.models.backbones import PlainViTPyramid

#: Depth 8 with global attention in blocks 1, 3, 5, 7: layer ids 0 (the
#: embeddings), 1-8 (the blocks), 9 (the rest).
TINY = dict(embed_dims=32, depth=8, num_heads=2)


class Detector(nn.Module):
    """A tiny ViT and a trainable 1x1 conv on its last map."""

    def __init__(self, frozen_stages, drop_path_rate=0.0):
        super().__init__()
        self.backbone = PlainViTPyramid(
            arch=TINY, img_size=64, pretrain_img_size=32, window_size=2,
            frozen_stages=frozen_stages, drop_path_rate=drop_path_rate)
        self.head = nn.Conv2d(TINY['embed_dims'], 4, 1)

    def forward(self, x):
        return self.head(self.backbone(x)[-1]).square().mean()


def frozen_names(model):
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def layer_decay_optim_wrapper(model):
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='LayerDecayOptimWrapperConstructor',
             optim_wrapper_cfg=dict(
                 type='OptimWrapper',
                 optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1)),
             paramwise_cfg=dict(layer_decay_rate=0.7)))
    return constructor(model)


def test_frozen_parameters_get_no_group_no_state_and_are_counted_apart():
    model = Detector(frozen_stages=5)
    optim_wrapper = layer_decay_optim_wrapper(model)
    groups = optim_wrapper.optimizer.param_groups
    in_groups = {id(p) for g in groups for p in g['params']}
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert frozen and not any(id(p) in in_groups for p in frozen)
    assert len(in_groups) == sum(p.requires_grad for p in model.parameters())
    # Layer decay's groups hold the trained layers only: 6..8 and the top.
    rows = lr_group_rows(model, groups, optim_wrapper.optimizer.defaults)
    assert {i for r in rows[:-1] for i in r.layer_ids} == {6, 7, 8, 9}
    assert rows[-1].group == 'frozen'
    assert rows[-1].num_elements == sum(p.numel() for p in frozen)
    assert f'frozen: {rows[-1].num_elements:,}' in format_lr_groups(rows)

    before = {n: p.clone() for n, p in model.named_parameters()}
    optim_wrapper.update_params(model(torch.randn(2, 3, 64, 64)))
    state = optim_wrapper.optimizer.state
    assert len(state) == len(in_groups)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) == (not p.requires_grad), name


def test_a_resumed_model_and_optimizer_stay_frozen():
    """As mmengine resumes: a new model from the config, its weights and
    the optimizer's state loaded from the saved checkpoint, then training
    goes on."""
    x = torch.randn(2, 3, 64, 64)
    model = Detector(frozen_stages=5)
    optim_wrapper = layer_decay_optim_wrapper(model)
    optim_wrapper.update_params(model(x))
    saved = io.BytesIO()
    torch.save(dict(state_dict=model.state_dict(),
                    optimizer=optim_wrapper.state_dict()), saved)
    saved.seek(0)
    checkpoint = torch.load(saved, weights_only=True)

    resumed = Detector(frozen_stages=5)
    resumed.load_state_dict(checkpoint['state_dict'])
    resumed_wrapper = layer_decay_optim_wrapper(resumed)
    resumed_wrapper.load_state_dict(checkpoint['optimizer'])
    assert frozen_names(resumed) == frozen_names(model)
    resumed.train()
    assert not resumed.backbone.blocks[4].training
    resumed_wrapper.update_params(resumed(x))
    for name, p in resumed.named_parameters():
        if not p.requires_grad:
            torch.testing.assert_close(p, checkpoint['state_dict'][name],
                                       rtol=0, atol=0)
    assert len(resumed_wrapper.optimizer.state) == sum(
        p.requires_grad for p in resumed.parameters())


def _ddp_steps(rank, frozen_stages):
    """Two AdamW steps of DDP (no find_unused_parameters) over a partly or
    fully frozen backbone; returns every parameter."""
    torch.manual_seed(0)  # the same model on both ranks
    model = Detector(frozen_stages, drop_path_rate=0.2)
    ddp = nn.parallel.DistributedDataParallel(model,
                                              find_unused_parameters=False)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.manual_seed(rank)  # different images per rank
    for _ in range(2):
        optimizer.zero_grad()
        ddp(torch.randn(2, 3, 64, 64)).backward()
        optimizer.step()
    return {n: p.detach() for n, p in model.named_parameters()}


@pytest.mark.parametrize('frozen_stages', [3, 'all'])
def test_ddp_without_find_unused_parameters(frozen_stages):
    torch.manual_seed(0)
    model = Detector(frozen_stages, drop_path_rate=0.2)
    initial = {n: p.detach().numpy() for n, p in model.named_parameters()}
    frozen = frozen_names(model)
    rank0, rank1 = run_on_two_ranks(_ddp_steps, frozen_stages)
    for name, value in rank0.items():
        assert (value == rank1[name]).all(), name  # gradients all-reduced
        unchanged = (value == initial[name]).all()
        assert unchanged == (name in frozen), name
