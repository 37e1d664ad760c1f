"""Frozen and partial fine-tuning (``frozen_stages``) of both backbones: what
each value freezes, eval mode and drop path, the backward of a partly frozen
backbone and the no-grad forward of a fully frozen one. Training with it
(optimizer, resume, DDP): tests/engine/test_frozen_training.py."""
import pytest
import torch

from mmdet_vit_transfer.models.backbones import ITPNHiViT, PlainViTPyramid

#: Depth 8 with global attention in blocks 1, 3, 5, 7.
TINY = dict(embed_dims=32, depth=8, num_heads=2)
TINY_ITPN = dict(embed_dims=64, depths=(1, 1, 2), num_heads=2)


def tiny_vit(**kwargs):
    return PlainViTPyramid(arch=TINY, img_size=64, pretrain_img_size=32,
                           window_size=2, **kwargs)


def tiny_itpn(**kwargs):
    return ITPNHiViT(arch=TINY_ITPN, img_size=64, pretrain_img_size=32,
                     **kwargs)


def frozen_names(model):
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def expected_frozen(model, blocks):
    """The embeddings from 0 on, block i from i + 1 on; a shared table once
    a block that reads it is frozen (windowed: 0, 2, ...; global: 1, 3,
    ...)."""
    names = set()
    for name, _ in model.named_parameters():
        if name.startswith(('pos_embed', 'patch_embed.')):
            frozen = blocks >= 0
        elif name.startswith('blocks.'):
            frozen = int(name.split('.')[1]) < blocks
        elif name.startswith('rel_pos_window.'):
            frozen = blocks >= 1
        else:
            assert name.startswith('rel_pos_global.'), name
            frozen = blocks >= 2
        if frozen:
            names.add(name)
    return names


@pytest.mark.parametrize('frozen_stages, blocks', [(-1, -1), (0, 0), (1, 1),
                                                    (2, 2), (5, 5),
                                                    ('all', 8), (8, 8)])
def test_what_each_value_freezes(frozen_stages, blocks):
    model = tiny_vit(frozen_stages=frozen_stages)
    assert frozen_names(model) == expected_frozen(model, blocks)
    assert model.fully_frozen == (blocks == 8)


@pytest.mark.parametrize('value', [-2, 9, 'half', True, 1.5, None])
def test_bad_values_are_named(value):
    with pytest.raises(ValueError, match=r"frozen_stages must be -1 .*1\.\.8"
                       r".*'all', got"):
        tiny_vit(frozen_stages=value)


def test_frozen_blocks_stay_in_eval_mode_without_drop_path():
    model = tiny_vit(frozen_stages=3, drop_path_rate=0.5)
    model.train()
    assert [b.training for b in model.blocks] == [False] * 3 + [True] * 5
    assert [b.drop_path.training for b in model.blocks[1:]] == \
        [False] * 2 + [True] * 5
    assert not model.patch_embed.training and model.training
    # The frozen prefix computes a fixed function in training mode too.
    x = torch.randn(2, 3, 64, 64)
    prefix = []
    model.blocks[2].register_forward_hook(
        lambda module, args, out: prefix.append(out))
    model(x)
    model(x)
    torch.testing.assert_close(prefix[0], prefix[1], rtol=0, atol=0)
    model.eval()
    assert not any(m.training for m in model.modules())


def test_partial_backward_reaches_only_the_trained_blocks():
    model = tiny_vit(frozen_stages=4)
    outs = model(torch.randn(1, 3, 64, 64))
    sum(o.sum() for o in outs).backward()
    for name, p in model.named_parameters():
        assert (p.grad is None) == (not p.requires_grad), name
    assert model.blocks[4].attn.qkv.weight.grad.abs().sum() > 0


def test_with_cp_checkpoints_every_trained_block(monkeypatch):
    import mmdet_vit_transfer.models.backbones.base as base
    checkpointed, original = [], base.cp.checkpoint

    def checkpoint(block, *args, **kwargs):
        checkpointed.append(block)
        return original(block, *args, **kwargs)

    monkeypatch.setattr(base.cp, 'checkpoint', checkpoint)
    model = tiny_vit(frozen_stages=3, with_cp=True)
    outs = model(torch.randn(1, 3, 64, 64))
    assert checkpointed == list(model.blocks[3:])
    sum(o.sum() for o in outs).backward()
    assert model.blocks[3].attn.qkv.weight.grad is not None


def test_fully_frozen_runs_without_a_graph_in_eval_mode():
    model = tiny_vit(frozen_stages='all', drop_path_rate=0.5)
    model.train()
    assert not any(m.training for m in model.modules())
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    outs = model(x)
    assert not any(o.requires_grad for o in outs)
    reference = tiny_vit(drop_path_rate=0.5)
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = reference.eval()(x)
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref)


def test_itpn_freezes_its_encoder_and_trains_its_pyramid():
    model = tiny_itpn(frozen_stages='all', drop_path_rate=0.5)
    model.train()
    frozen = frozen_names(model)
    encoder = {n for n, _ in model.named_parameters()
               if n.startswith(('patch_embed.', 'absolute_pos_embed',
                                'blocks.'))}
    assert frozen == encoder
    assert not any(m.training for m in model.blocks.modules())
    assert model.fpn_modules.training
    outs = model(torch.randn(1, 3, 64, 64))
    assert all(o.requires_grad for o in outs)  # the pyramid trains
    stages = model.forward_stages(torch.randn(1, 3, 64, 64))
    assert not any(s.requires_grad for s in stages)

    # k counts the entries of `blocks`, patch merges included.
    model = tiny_itpn(frozen_stages=2)
    assert {n.split('.')[1] for n in frozen_names(model)
            if n.startswith('blocks.')} == {'0', '1'}
    assert 'absolute_pos_embed' in frozen_names(model)
    assert [b.training for b in model.blocks] == [False, False, True, True,
                                                  True, True]
