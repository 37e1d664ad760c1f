"""Published checkpoints, converted and loaded, reproduce the networks they
were saved from.

References are mmpretrain's ``VisionTransformer`` and ``BEiTViT`` (written
by others) with random weights, saved in each published layout by
``published_writers``. ``PlainViTPyramid`` is built at the pre-training
resolution with windows covering the whole token grid (so windowed blocks
attend globally) and must give the reference's patch tokens after the last
block, before the final norm.

Cls token: detection drops it. The ViT reference runs without one
(``with_cls_token=False``); the written files still carry a cls token and a
cls slot in ``pos_embed``, which the loader must drop. BEiTViT always has a
cls token; its token->cls bias row is set to -1e4, so patch tokens give the
cls key no weight and the patch-to-patch part of the relative table alone
decides the result, which is what our cls-free backbone computes.
"""
import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.utils import resize_pos_embed

import published_writers as pw
from mmdet_vit_transfer.checkpoints import (convert_checkpoint,
                                            detect_format, load_pretrained)
from mmdet_vit_transfer.checkpoints.formats import unwrap_state_dict
from mmdet_vit_transfer.models.backbones import PlainViTPyramid
from mmdet_vit_transfer.models.layers.vit_geometry import resize_abs_pos_embed

ATOL = 1e-4
TOOL = Path(__file__).resolve().parents[2] / 'tools/convert_checkpoint.py'


def plain_vit(img_size=pw.IMG_SIZE, pretrain_img_size=pw.IMG_SIZE,
              beit=False, **kwargs):
    """Our backbone, tiny, windows of the whole pre-training grid, global
    blocks 1 and 3 (so both shared tables are used)."""
    options = dict(
        arch=dict(embed_dims=pw.EMBED_DIMS, depth=pw.DEPTH,
                  num_heads=pw.NUM_HEADS),
        img_size=img_size, patch_size=pw.PATCH_SIZE,
        pretrain_img_size=pretrain_img_size, window_size=pw.GRID,
        global_attn_indexes=[1, 3])
    if beit:
        options.update(qkv_bias='qv', layer_scale_init_value=0.1,
                       use_abs_pos=False)
    options.update(kwargs)
    model = PlainViTPyramid(**options)
    model.init_weights()
    return model.eval()


def last_features(model, x):
    with torch.no_grad():
        return model(x)[-1]


@pytest.fixture(scope='module')
def images():
    return torch.randn(2, 3, pw.IMG_SIZE, pw.IMG_SIZE,
                       generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope='module')
def vit():
    return pw.reference_vit()


@pytest.fixture(scope='module')
def beit_shared():
    return pw.reference_beit(shared_table=True)


@pytest.fixture(scope='module')
def beit_per_block():
    return pw.reference_beit(shared_table=False)


VIT_WRITERS = {
    'mae': pw.mae_checkpoint,
    'deit': pw.deit_checkpoint,
    'mocov3': pw.mocov3_checkpoint,
    'mmpretrain': pw.mmpretrain_checkpoint,
}
# Keys each published layout holds besides the backbone, all to be dropped.
ON_PURPOSE_DROPS = {
    'mae': r'^(cls_token|mask_token|decoder_|norm\.)',
    'deit': r'^(cls_token|dist_token|head\.|head_dist\.|norm\.)',
    'mocov3': (r'^module\.(momentum_encoder\.|predictor\.|base_encoder\.'
               r'(cls_token|head\.|norm\.))'),
    'mmpretrain': r'^(backbone\.(cls_token|ln1\.|.*relative_position_index)'
                  r'|neck\.|head\.)',
    'beit': r'^(cls_token|mask_token|norm\.|lm_head\.|'
            r'.*relative_position_index)',
}


def assert_drops(report, raw, fmt):
    state, _ = unwrap_state_dict(raw)
    expected = {k for k in state if re.match(ON_PURPOSE_DROPS[fmt], k)}
    assert expected, 'the writer added no pre-training keys'
    assert set(report.dropped_keys) == expected
    assert report.missing == []


@pytest.mark.parametrize('fmt', sorted(VIT_WRITERS))
def test_vit_formats_reproduce_reference(fmt, vit, images):
    raw = VIT_WRITERS[fmt](vit)
    model = plain_vit()
    report = load_pretrained(model, raw, abs_pos_init='pretrained',
                             rel_pos_init='zero')
    expected = pw.reference_features(vit, images)
    assert (last_features(model, images) - expected).abs().max() < ATOL
    assert report.format == fmt and report.detected
    assert_drops(report, raw, fmt)
    assert report.resized == []


def test_mmpretrain_layer_scale_vit_reproduces_reference(images):
    """mmpretrain's VisionTransformer keeps layer scale as attn.gamma1 /
    ffn.gamma2 modules; they land in ls1.gamma / ls2.gamma."""
    vit = pw.reference_vit(layer_scale=0.1, seed=4)
    model = plain_vit(layer_scale_init_value=0.1)
    load_pretrained(model, pw.mmpretrain_checkpoint(vit), rel_pos_init='zero')
    expected = pw.reference_features(vit, images)
    assert (last_features(model, images) - expected).abs().max() < ATOL


@pytest.mark.parametrize('layout', ['beit', 'mmpretrain'])
@pytest.mark.parametrize('shared', [True, False], ids=['shared', 'per_block'])
def test_beit_reproduces_reference(layout, shared, beit_shared,
                                   beit_per_block, images):
    ref = beit_shared if shared else beit_per_block
    raw = (pw.beit_checkpoint if layout == 'beit' else
           pw.mmpretrain_checkpoint)(ref)
    model = plain_vit(beit=True)
    report = load_pretrained(model, raw, abs_pos_init='none',
                             rel_pos_init='pretrained')
    expected = pw.reference_features(ref, images)
    assert (last_features(model, images) - expected).abs().max() < ATOL
    assert report.format == layout
    assert_drops(report, raw, layout)
    # Same grid: the window and global tables are the checkpoint's table.
    table = next(v for k, v in unwrap_state_dict(raw)[0].items()
                 if k.endswith('relative_position_bias_table'))
    assert torch.equal(model.rel_pos_window.relative_position_bias_table,
                       table)
    assert torch.equal(model.rel_pos_global.relative_position_bias_table,
                       table)
    assert report.resized == []


def test_position_information_is_what_makes_them_match(
        vit, beit_shared, images):
    """The controls: without BEiT's table, or with a random absolute
    embedding instead of the pre-trained one, the features differ."""
    model = plain_vit(beit=True)
    load_pretrained(model, pw.beit_checkpoint(beit_shared),
                    rel_pos_init='zero')
    expected = pw.reference_features(beit_shared, images)
    assert (last_features(model, images) - expected).abs().max() > 1e-2
    model = plain_vit()
    load_pretrained(model, pw.mae_checkpoint(vit), abs_pos_init='random')
    expected = pw.reference_features(vit, images)
    assert (last_features(model, images) - expected).abs().max() > 1e-2


def test_differing_per_block_tables_are_averaged_and_said(beit_per_block):
    raw = pw.beit_checkpoint(beit_per_block)
    tables = [v for k, v in raw['model'].items()
              if k.endswith('relative_position_bias_table')]
    for i, table in enumerate(tables):
        table.add_(i)
    model = plain_vit(beit=True)
    report = load_pretrained(model, raw)
    assert torch.allclose(
        model.rel_pos_global.relative_position_bias_table,
        torch.stack(tables).mean(0))
    assert any('averaged' in note for note in report.notes)


FORMAT_CASES = {
    'mae': lambda vit, beit: pw.mae_checkpoint(vit),
    'deit': lambda vit, beit: pw.deit_checkpoint(vit),
    'mocov3': lambda vit, beit: pw.mocov3_checkpoint(vit),
    'mmpretrain': lambda vit, beit: pw.mmpretrain_checkpoint(beit),
    'beit': lambda vit, beit: pw.beit_checkpoint(beit),
    # MAE's released pretrain files hold the encoder only: timm names.
    'timm': lambda vit, beit: {
        'model': {k: v for k, v in pw.mae_checkpoint(vit)['model'].items()
                  if not k.startswith(('decoder_', 'mask_token'))}},
}


def _load_tool():
    spec = importlib.util.spec_from_file_location('convert_checkpoint', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.parametrize('fmt', sorted(FORMAT_CASES))
def test_cli_detects_format_and_says_so(fmt, vit, beit_shared, tmp_path,
                                        capsys):
    raw = FORMAT_CASES[fmt](vit, beit_shared)
    assert detect_format(unwrap_state_dict(raw)[0]) == fmt
    src, dst = tmp_path / 'published.pth', tmp_path / 'converted.pth'
    torch.save(raw, src)
    _load_tool().main([str(src), str(dst), '--format', 'auto'])
    printed = capsys.readouterr().out
    assert f'Checkpoint format: {fmt} (detected' in printed
    assert 'Dropped on purpose' in printed
    converted = torch.load(dst, weights_only=True)
    assert set(converted) == {'state_dict'}
    expected, _ = convert_checkpoint(raw, fmt)
    assert converted['state_dict'].keys() == expected.keys()
    assert all(torch.equal(converted['state_dict'][k], v)
               for k, v in expected.items())


@pytest.mark.parametrize('fmt', ['mae', 'beit'])
def test_init_cfg_loads_published_and_converted_files_alike(
        fmt, vit, beit_shared, tmp_path):
    """``init_cfg=dict(type='Pretrained', ...)`` through init_weights():
    the published file and its conversion give identical weights."""
    raw = FORMAT_CASES[fmt](vit, beit_shared)
    published, converted = tmp_path / 'published.pth', tmp_path / 'conv.pth'
    torch.save(raw, published)
    _load_tool().main([str(published), str(converted)])
    beit = dict(qkv_bias='qv', layer_scale_init_value=0.1) if fmt == 'beit' \
        else {}
    states = []
    for path in (published, converted):
        torch.manual_seed(0)  # BEiT's absolute embedding stays random
        model = PlainViTPyramid(
            arch=dict(embed_dims=pw.EMBED_DIMS, depth=pw.DEPTH,
                      num_heads=pw.NUM_HEADS),
            img_size=pw.IMG_SIZE, patch_size=pw.PATCH_SIZE,
            pretrain_img_size=pw.IMG_SIZE, window_size=pw.GRID,
            init_cfg=dict(type='Pretrained', checkpoint=str(path)), **beit)
        model.init_weights()
        states.append(model.state_dict())
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    loaded, _ = convert_checkpoint(raw)
    assert torch.equal(states[0]['blocks.3.mlp.fc2.weight'],
                       loaded['blocks.3.mlp.fc2.weight'])


def test_beit_tables_resized_to_a_large_grid(beit_shared):
    """At the grid of a 1024 input (64x64 tokens; 512 px at patch 8): the
    window table (same size as the checkpoint's) loads unchanged, the
    global table is the checkpoint's offsets interpolated bicubically with
    the 3 cls rows kept, and the backbone runs."""
    raw = pw.beit_checkpoint(beit_shared)
    table = raw['model']['rel_pos_bias.relative_position_bias_table']
    model = plain_vit(img_size=512, beit=True, use_abs_pos=True)
    report = load_pretrained(model, raw)
    assert torch.equal(model.rel_pos_window.relative_position_bias_table,
                       table)
    src, dst = 2 * pw.GRID - 1, 2 * 64 - 1
    offsets = table[:-3].T.reshape(1, pw.NUM_HEADS, src, src)
    direct = F.interpolate(offsets, size=(dst, dst), mode='bicubic',
                           align_corners=False)
    expected = torch.cat([direct.reshape(pw.NUM_HEADS, -1).T, table[-3:]])
    assert torch.allclose(
        model.rel_pos_global.relative_position_bias_table, expected,
        atol=1e-6)
    assert [line.split(':')[0] for line in report.resized] == [
        'rel_pos_global.relative_position_bias_table']
    assert 'random' in report.position['absolute']
    assert report.kept_at_init == {
        'absolute position embedding (random)': ['pos_embed']}
    assert report.missing == []
    out = model(torch.randn(1, 3, 512, 512))
    assert out[-1].shape == (1, pw.EMBED_DIMS, 64, 64)
    assert all(torch.isfinite(o).all() for o in out)


def test_abs_pos_resized_like_mmpretrain(vit):
    """A checkpoint grid other than the model's pre-training grid is resized
    at load (reported); the forward pass resizes it to any input grid. Both
    agree with mmpretrain's resize_pos_embed."""
    raw = pw.mae_checkpoint(vit)
    pos = raw['model']['pos_embed']  # (1, 1 + 8*8, C)
    model = plain_vit(img_size=512, pretrain_img_size=96)
    report = load_pretrained(model, raw)
    expected = resize_pos_embed(pos, (8, 8), (12, 12))
    assert torch.allclose(model.pos_embed[:, 1:], expected[:, 1:],
                          atol=1e-6)
    assert [line.split(':')[0] for line in report.resized] == ['pos_embed']
    assert 'resized to 12x12' in report.position['absolute']

    model = plain_vit(img_size=512)
    load_pretrained(model, raw)
    assert torch.equal(model.pos_embed, pos)
    in_forward = resize_abs_pos_embed(model.pos_embed, (64, 64))
    expected = resize_pos_embed(pos, (8, 8), (64, 64))[:, 1:]
    assert torch.allclose(in_forward.reshape(1, 64 * 64, -1), expected,
                          atol=1e-6)
    out = model(torch.randn(1, 3, 512, 512))
    assert all(torch.isfinite(o).all() for o in out)
