import pytest
import torch

from mmdet_vit_transfer.models.backbones import PlainViTPyramid
from mmdet_vit_transfer.models.backbones import plain_vit
from mmdet_vit_transfer.models.backbones.plain_vit import ARCH_SETTINGS
from mmdet_vit_transfer.models.layers import \
    biased_attention as attention_module
from mmdet_vit_transfer.models.layers.biased_attention import (
    OffsetGridBias, biased_attention)
from mmdet_vit_transfer.models.layers.vit_geometry import relative_position_bias

TINY = dict(embed_dims=32, depth=8, num_heads=2)


def tiny_vit(**kwargs):
    kwargs.setdefault('arch', TINY)
    kwargs.setdefault('img_size', 128)
    kwargs.setdefault('pretrain_img_size', 64)
    kwargs.setdefault('window_size', 4)
    model = PlainViTPyramid(**kwargs)
    model.init_weights()
    return model


def randomize_tables(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'rel_pos' in name:
                p.normal_(std=0.5)


@pytest.mark.parametrize('arch', ['base', 'large', 'huge'])
def test_presets_four_outputs_at_1024(arch):
    # Shapes only: the meta device runs the whole forward without compute.
    with torch.device('meta'):
        model = PlainViTPyramid(arch=arch)
        outs = model(torch.empty(2, 3, 1024, 1024))
    dims = ARCH_SETTINGS[arch]['embed_dims']
    assert [tuple(o.shape) for o in outs] == [(2, dims, 64, 64)] * 4


def test_default_global_blocks_end_each_quarter():
    with torch.device('meta'):
        assert PlainViTPyramid('base').global_attn_indexes == [2, 5, 8, 11]
        large = PlainViTPyramid('large')
        huge = PlainViTPyramid('huge')
    assert large.global_attn_indexes == [5, 11, 17, 23]
    assert large.out_indices == [5, 11, 17, 23]
    assert huge.global_attn_indexes == [7, 15, 23, 31]
    assert [b.window_size for b in large.blocks].count(0) == 4


@pytest.mark.parametrize('hw', [(1000, 720), (300, 500), (1024, 1024)])
@pytest.mark.parametrize('arch', ['base', 'large'])
def test_any_input_size(arch, hw):
    with torch.device('meta'):
        outs = PlainViTPyramid(arch=arch)(torch.empty(1, 3, *hw))
    assert all(o.shape[2:] == (hw[0] // 16, hw[1] // 16) for o in outs)


@pytest.mark.parametrize('rel_pos', ['shared_table', 'decomposed', None])
@pytest.mark.parametrize('hw', [(128, 128), (100, 156)])
def test_tiny_forward_backward(rel_pos, hw):
    model = tiny_vit(rel_pos=rel_pos)
    outs = model(torch.randn(2, 3, *hw))
    assert len(outs) == 4
    assert all(o.shape == (2, 32, hw[0] // 16, hw[1] // 16) for o in outs)
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_window_covering_grid_equals_global_attention():
    # An 8x8 grid in one 8x8 window is global attention; the window table
    # and the global table then describe the same offsets.
    windowed = tiny_vit(window_size=8, global_attn_indexes=[],
                        out_indices=[1, 3, 5, 7])
    glob = tiny_vit(window_size=0, out_indices=[1, 3, 5, 7])
    randomize_tables(windowed)
    state = windowed.state_dict()
    state['rel_pos_global.relative_position_bias_table'] = state.pop(
        'rel_pos_window.relative_position_bias_table')
    glob.load_state_dict(state)
    x = torch.randn(2, 3, 128, 128)
    for a, b in zip(windowed(x), glob(x)):
        assert torch.allclose(a, b, atol=1e-5)


def test_shared_tables_are_one_parameter_each():
    model = tiny_vit()
    tables = [n for n, _ in model.named_parameters() if 'bias_table' in n]
    assert tables == ['rel_pos_window.relative_position_bias_table',
                      'rel_pos_global.relative_position_bias_table']
    assert model.rel_pos_window.relative_position_bias_table.shape == \
        (7 * 7 + 3, 2)
    assert model.rel_pos_global.relative_position_bias_table.shape == \
        (15 * 15 + 3, 2)
    assert not any('rel_pos' in n for n, _ in model.blocks.named_parameters())


def test_shared_tables_feed_every_block_of_their_kind(monkeypatch):
    model = tiny_vit()
    randomize_tables(model)
    seen = []
    for block in model.blocks:
        original = block.attn.forward

        def spy(x, bias=None, original=original, block=block):
            seen.append((block.window_size, bias))
            return original(x, bias)

        monkeypatch.setattr(block.attn, 'forward', spy)
    model(torch.randn(1, 3, 128, 128))
    window_table = model.rel_pos_window.relative_position_bias_table
    global_table = model.rel_pos_global.relative_position_bias_table
    expected_window = relative_position_bias(window_table, (4, 4), (4, 4))
    expected_global = relative_position_bias(global_table, (8, 8), (8, 8))
    assert [ws for ws, _ in seen] == [4, 0] * 4
    for ws, bias in seen:
        expected = expected_window if ws else expected_global
        assert torch.equal(bias[0], expected)


def outputs_and_grads(model, x):
    model.zero_grad()
    outs = model(x)
    sum((o * o).sum() for o in outs).backward()
    return outs, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize('img_hw', [(128, 128), (96, 160)])
def test_a_large_global_bias_is_served_by_query_rows(img_hw, monkeypatch):
    model = tiny_vit()
    randomize_tables(model)
    x = torch.randn(2, 3, *img_hw)
    expected = outputs_and_grads(model, x)
    # Bias elements allowed in one block: the 8x8 global grid (2 heads) is
    # now served a few grid rows at a time, the 4x4 windows whole.
    monkeypatch.setattr(attention_module, 'BLOCK_ELEMENTS', 2 * 3 * 8 * 64)
    monkeypatch.setattr(attention_module, 'MIN_QUERIES_PER_CALL', 1)
    bias = model.rel_pos_global(tuple(s // 16 for s in img_hw))
    assert isinstance(bias, OffsetGridBias)
    assert isinstance(model.rel_pos_window((4, 4)), torch.Tensor)
    got = outputs_and_grads(model, x)
    for a, b in zip(got[0], expected[0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for name, grad in expected[1].items():
        torch.testing.assert_close(got[1][name], grad, rtol=1e-4, atol=1e-5,
                                   msg=name)
    with torch.no_grad():
        for a, b in zip(model(x), expected[0]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_keeps_the_shared_biases_float32(monkeypatch):
    # The fused attention takes a float32 bias with bf16 queries as it is;
    # a cast here would copy the global bias and its gradient every block.
    model = tiny_vit()
    seen = []

    def spy(q, k, v, bias):
        seen.append((q.dtype, bias.dtype))
        return biased_attention(q, k, v, bias)

    monkeypatch.setattr(plain_vit, 'biased_attention', spy)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.randn(1, 3, 128, 128))
    sum(o.float().sum() for o in outs).backward()
    assert seen == [(torch.bfloat16, torch.float32)] * 8
    assert model.rel_pos_global.relative_position_bias_table.grad.dtype == \
        torch.float32


@pytest.mark.parametrize('native', [True, False])
def test_bf16_autocast_gives_the_float32_outputs_and_gradients(
        native, monkeypatch):
    """Within bf16 tolerance, with the global bias served by query rows and
    the attention backward's products in bf16 (native) or float32."""
    monkeypatch.setattr(attention_module, 'BLOCK_ELEMENTS', 2 * 3 * 8 * 64)
    monkeypatch.setattr(attention_module, 'MIN_QUERIES_PER_CALL', 1)
    monkeypatch.setattr(attention_module, 'has_native_bfloat16',
                        lambda: native)
    model = tiny_vit(drop_path_rate=0.0)
    randomize_tables(model)
    x = torch.randn(1, 3, 128, 128)
    expected = outputs_and_grads(model, x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    model.zero_grad()
    sum((o.float()**2).sum() for o in outs).backward()

    def relative_error(got, want):
        return ((got.float() - want).norm() / want.norm()).item()

    for got, want in zip(outs, expected[0]):
        assert relative_error(got, want) < 0.02
    for name, p in model.named_parameters():
        assert relative_error(p.grad, expected[1][name]) < 0.05, name


def test_global_table_resized_for_other_grids():
    model = tiny_vit()
    randomize_tables(model)
    outs = model(torch.randn(1, 3, 96, 160))
    assert outs[-1].shape == (1, 32, 6, 10)


@pytest.mark.parametrize('block_elements', [2**24, 2 * 3 * 8 * 64])
def test_with_cp_same_outputs_and_gradients(block_elements, monkeypatch):
    # Also with the global bias served by query rows (an OffsetGridBias).
    monkeypatch.setattr(attention_module, 'BLOCK_ELEMENTS', block_elements)
    x = torch.randn(2, 3, 128, 128)
    plain = tiny_vit(drop_path_rate=0.0)
    randomize_tables(plain)
    ckpt = tiny_vit(drop_path_rate=0.0, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, ckpt):
        outs = model(x)
        sum((o * o).sum() for o in outs).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for a, b in zip(plain(x), ckpt(x)):
        assert torch.allclose(a, b)
    for name, grad in grads[0].items():
        assert torch.allclose(grad, grads[1][name], atol=1e-6), name


def test_qv_bias_has_no_k_bias_and_layer_scale():
    model = tiny_vit(qkv_bias='qv', layer_scale_init_value=0.1)
    attn = model.blocks[0].attn
    assert attn.qkv.bias is None
    assert attn.q_bias.shape == attn.v_bias.shape == (32, )
    assert torch.allclose(model.blocks[0].gamma_1, torch.full((32, ), 0.1))
    # k bias is zero: shifting q/v bias changes output; there is no k bias.
    names = {n for n, _ in model.named_parameters()}
    assert 'blocks.0.attn.k_bias' not in names
    assert 'blocks.0.gamma_2' in names
    model(torch.randn(1, 3, 64, 64))


def test_default_has_qkv_bias_and_no_layer_scale():
    model = tiny_vit()
    assert model.blocks[0].attn.qkv.bias is not None
    assert model.blocks[0].gamma_1 is None


def test_pos_embed_stored_at_pretrain_grid_with_cls_slot():
    assert tiny_vit().pos_embed.shape == (1, 1 + 4 * 4, 32)
    assert tiny_vit(use_abs_pos=False).pos_embed is None


def test_random_init_rescales_residual_projections():
    model = PlainViTPyramid(arch=dict(embed_dims=256, depth=8, num_heads=4),
                            img_size=64, pretrain_img_size=64)
    model.init_weights()
    for i, block in enumerate(model.blocks, start=1):
        expected = 0.02 / (2 * i)**0.5
        assert block.attn.proj.weight.std().item() == pytest.approx(
            expected, rel=0.1)
        assert block.mlp.fc2.weight.std().item() == pytest.approx(
            expected, rel=0.1)
        assert block.attn.qkv.weight.std().item() == pytest.approx(
            0.02, rel=0.1)
    assert not model.rel_pos_global.relative_position_bias_table.any()


def test_drop_path_increases_linearly():
    model = tiny_vit(drop_path_rate=0.3)
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for b in model.blocks]
    assert rates == pytest.approx([0.3 * i / 7 for i in range(8)])


def test_layer_depth():
    model = tiny_vit()
    assert model.get_layer_depth('backbone.patch_embed.proj.weight') == (0, 10)
    assert model.get_layer_depth('backbone.pos_embed') == (0, 10)
    assert model.get_layer_depth('backbone.blocks.0.attn.qkv.weight') == (1, 10)
    assert model.get_layer_depth('backbone.blocks.7.mlp.fc2.bias') == (8, 10)
    assert model.get_layer_depth(
        'backbone.rel_pos_window.relative_position_bias_table') == (9, 10)
    assert model.get_layer_depth('neck.0.adapters.0.0.weight') == (9, 10)


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='giant'), "arch must be one of"),
    (dict(arch=dict(embed_dims=30, depth=2, num_heads=4)), 'not divisible'),
    (dict(rel_pos='beit'), 'rel_pos must be one of'),
    (dict(qkv_bias='k'), 'qkv_bias must be one of'),
    (dict(global_attn_indexes=[1, 8]), r'\[8\] out of range for depth 8'),
    (dict(global_attn_indexes=[], out_indices=[]), 'at least one block'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
    (dict(window_size=-1), 'window_size'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_vit(**kwargs)
