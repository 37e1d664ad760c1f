import pytest
import torch
import torch.nn as nn

from mmdet_vit_transfer.models.backbones import PlainViTPyramid
from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO
from mmdet_vit_transfer.models.layers.attention import (Attention,
                                                        attention_layer)
from mmdet_vit_transfer.models.layers.cpu_fused_attention import (
    CPUFusedAttention, OffsetGridBias)
from mmdet_vit_transfer.models.layers.vit_geometry import (
    offset_grid_bias, relative_offset_grid, resize_abs_pos_embed)

TINY = dict(embed_dims=32, depth=8, num_heads=2)
#: The fused CPU kernel with the 8x8 global grid's bias (2 heads) served a
#: few grid rows at a time, the 4x4 windows' whole.
BY_ROWS = dict(type='cpu_fused', block_elements=2 * 3 * 8 * 64,
               min_queries_per_call=1)
#: Every backend the tiny model can run on the CPU in float32.
BACKENDS = ['sdpa', 'cpu_fused', BY_ROWS]


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
    dims = ARCH_ZOO[arch]['embed_dims']
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


@pytest.mark.parametrize('rel_pos', ['table', 'decomposed', None])
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


@pytest.mark.parametrize('backend', ['sdpa', 'cpu_fused'])
def test_shared_tables_feed_every_block_of_their_kind(backend, monkeypatch):
    model = tiny_vit(attn_backend=backend)
    randomize_tables(model)
    seen = []
    for block in model.blocks:
        original = block.attn.forward

        def spy(x, attn_mask=None, rope=None, original=original,
                block=block):
            seen.append((block.window_size, attn_mask))
            return original(x, attn_mask, rope)

        monkeypatch.setattr(block.attn, 'forward', spy)
    model(torch.randn(1, 3, 128, 128))
    window_table = model.rel_pos_window.relative_position_bias_table
    global_table = model.rel_pos_global.relative_position_bias_table
    expected_window = offset_grid_bias(
        relative_offset_grid(window_table, (4, 4), (4, 4)))
    expected_global = offset_grid_bias(
        relative_offset_grid(global_table, (8, 8), (8, 8)))
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
def test_a_large_global_bias_is_served_by_query_rows(img_hw):
    model = tiny_vit()
    randomize_tables(model)
    x = torch.randn(2, 3, *img_hw)
    expected = outputs_and_grads(model, x)
    by_rows = tiny_vit(attn_backend=BY_ROWS)
    by_rows.load_state_dict(model.state_dict())
    window_bias, global_bias = by_rows.table_biases(
        tuple(s // 16 for s in img_hw), x)
    assert isinstance(global_bias, OffsetGridBias)
    assert isinstance(window_bias, torch.Tensor)
    model = by_rows
    got = outputs_and_grads(model, x)
    for a, b in zip(got[0], expected[0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for name, grad in expected[1].items():
        torch.testing.assert_close(got[1][name], grad, rtol=1e-4, atol=1e-5,
                                   msg=name)
    with torch.no_grad():
        for a, b in zip(model(x), expected[0]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_attention_layers_and_the_dtype_of_table_biases():
    """The attention layer is chosen once, by name; 'auto' is the fused CPU
    kernel where it runs and SDPA elsewhere, and each makes a shared
    table's bias in the form it attends with."""
    x = torch.randn(1, 3, 64, 64)
    grid = torch.randn(2, 7, 7)
    auto = attention_layer('auto')(32, 2)
    assert isinstance(auto, CPUFusedAttention) and not auto.strict
    sdpa = attention_layer('sdpa')(32, 2)
    assert type(sdpa) is Attention
    assert auto.table_bias(grid, x.double()).shape == (1, 2, 16, 16)
    assert auto.table_bias(grid, x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match="use 'sdpa' or 'auto'"):
        attention_layer('cpu_fused')(32, 2).table_bias(grid, x.double())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        # The fused kernel takes a float32 bias with bf16 queries as it is;
        # a cast would copy the global bias and its gradient every block.
        assert auto.table_bias(grid, x).dtype == torch.float32
        assert sdpa.table_bias(grid, x).dtype == torch.bfloat16
    with torch.autocast('cpu', dtype=torch.float16):
        # No fp16 CPU kernel: the generic path, its bias made once in fp16.
        assert auto.table_bias(grid, x).dtype == torch.float16


@pytest.mark.parametrize('native', [True, False])
def test_bf16_autocast_gives_the_float32_outputs_and_gradients(native):
    """Within bf16 tolerance, with the global bias served by query rows and
    the attention backward's products in bf16 (native) or float32."""
    model = tiny_vit(drop_path_rate=0.0,
                     attn_backend=dict(BY_ROWS, native_bfloat16=native))
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


@pytest.mark.parametrize('backend', BACKENDS)
def test_with_cp_same_outputs_and_gradients(backend):
    # Also with the global bias served by query rows (an OffsetGridBias).
    x = torch.randn(2, 3, 128, 128)
    plain = tiny_vit(drop_path_rate=0.0, attn_backend=backend)
    randomize_tables(plain)
    ckpt = tiny_vit(drop_path_rate=0.0, with_cp=True, attn_backend=backend)
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
    assert torch.allclose(model.blocks[0].ls1.gamma, torch.full((32, ), 0.1))
    # k bias is zero: shifting q/v bias changes output; there is no k bias.
    names = {n for n, _ in model.named_parameters()}
    assert 'blocks.0.attn.k_bias' not in names
    assert 'blocks.0.ls2.gamma' in names
    model(torch.randn(1, 3, 64, 64))


def test_default_has_qkv_bias_and_no_layer_scale():
    model = tiny_vit()
    assert model.blocks[0].attn.qkv.bias is not None
    assert isinstance(model.blocks[0].ls1, nn.Identity)


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
    (dict(attn_backend='flash'), 'attn_backend must be one of'),
    (dict(global_attn_indexes=[1, 8]), r'\[8\] out of range for depth 8'),
    (dict(global_attn_indexes=[], out_indices=[]), 'at least one block'),
    (dict(drop_path_rate=1.5), 'drop_path_rate'),
    (dict(window_size=-1), 'window_size'),
    (dict(act_layer='relu'), 'act_layer must be one of'),
    (dict(mlp_layer='geglu'), 'mlp_layer must be one of'),
    (dict(rope='alibi'), 'rope must be None or one of'),
    (dict(arch=dict(embed_dims=32, depth=8, num_heads=16), rope='eva'),
     'heads of a multiple of 4 channels'),
    (dict(arch=dict(embed_dims=32, depth=8, num_heads=2, family='x',
                    window=3)), 'has unknown'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_vit(**kwargs)


def count_bias_builds(model, x, with_grad=True):
    """Biases made from each shared table in one forward (and backward)
    pass, and the calls of the geometry's whole-bias gather among them."""
    for table in (model.rel_pos_window, model.rel_pos_global):
        table.num_bias_builds = 0
    with torch.profiler.profile() as prof:
        with torch.set_grad_enabled(with_grad):
            outs = model(x)
        if with_grad:
            sum(o.sum() for o in outs).backward()
    events = {e.key: e.count for e in prof.key_averages()}
    return (model.rel_pos_window.num_bias_builds,
            model.rel_pos_global.num_bias_builds, events.get('aten::index', 0))


@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize('with_grad', [True, False])
@pytest.mark.parametrize('backend', BACKENDS)
def test_one_bias_per_table_per_forward(backend, with_grad, with_cp):
    """Each shared table's bias is made once per forward and shared by the
    four blocks of its kind, on every backend; the generic one makes it
    whole (one gather per table, none in the blocks)."""
    model = tiny_vit(attn_backend=backend, with_cp=with_cp)
    x = torch.randn(1, 3, 128, 128, requires_grad=with_cp)
    window, glob, gathers = count_bias_builds(model, x, with_grad)
    assert (window, glob) == (1, 1)
    assert gathers == (2 if backend == 'sdpa' else 0)


@pytest.mark.parametrize('rel_pos', ['table', 'decomposed'])
def test_backends_give_the_same_outputs_and_gradients(rel_pos):
    """The fused CPU kernel (bias whole or by query rows) against the
    generic path, in float32, and both against float64."""
    x = torch.randn(2, 3, 96, 160)
    reference = tiny_vit(rel_pos=rel_pos, attn_backend='sdpa')
    randomize_tables(reference)
    exact = outputs_and_grads(reference.double(), x.double())
    reference.float()
    results = {}
    for backend in BACKENDS:
        model = tiny_vit(rel_pos=rel_pos, attn_backend=backend)
        model.load_state_dict(reference.state_dict())
        results[str(backend)] = outputs_and_grads(model, x)
    want = results['sdpa']
    for name, (outs, grads) in results.items():
        for got, ref, ref64 in zip(outs, want[0], exact[0]):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(got.double(), ref64, rtol=1e-4,
                                       atol=1e-5)
        for param, grad in grads.items():
            torch.testing.assert_close(grad, want[1][param], rtol=1e-4,
                                       atol=1e-5, msg=f'{name} {param}')


def test_fp16_autocast_on_the_generic_path():
    """CPU fp16 autocast stands in for a GPU's: finite outputs and
    gradients, close to float32's."""
    model = tiny_vit(drop_path_rate=0.0, attn_backend='sdpa')
    randomize_tables(model)
    x = torch.randn(1, 3, 128, 128)
    expected = outputs_and_grads(model, x)
    model.zero_grad()
    with torch.autocast('cpu', dtype=torch.float16):
        outs = model(x)
    sum((o.float()**2).sum() for o in outs).backward()

    def relative_error(got, want):
        return ((got.float() - want).norm() / want.norm()).item()

    for got, want in zip(outs, expected[0]):
        assert torch.isfinite(got).all()
        assert relative_error(got, want) < 0.01
    for name, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), name
        assert relative_error(p.grad, expected[1][name]) < 0.02, name


def test_checkpoints_of_earlier_releases_load():
    """Detector checkpoints saved before layer scale was a module name it
    gamma_1 / gamma_2, and position embeddings come in any published
    layout: load_state_dict takes both."""
    model = tiny_vit(layer_scale_init_value=0.1)
    state = model.state_dict()
    for i in range(8):
        for n in (1, 2):
            state[f'blocks.{i}.gamma_{n}'] = torch.full(
                (32, ), float(i + n)).clone()
            del state[f'blocks.{i}.ls{n}.gamma']
    # SAM's (1, H, W, C) at another grid than the stored 4x4.
    state['pos_embed'] = torch.randn(1, 8, 8, 32)
    model.load_state_dict(state)
    assert model.blocks[3].ls2.gamma.eq(5.0).all()
    assert model.pos_embed.shape == (1, 17, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            model.pos_embed[:, 1:].reshape(1, 4, 4, 32),
            resize_abs_pos_embed(state['pos_embed'].reshape(1, 64, 32),
                                 (4, 4), num_extra_tokens=0))
