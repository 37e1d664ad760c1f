"""iTPN checkpoints in the official (pixel, CLIP) and mmpretrain layouts load
into ``ITPNHiViT``, and the loaded backbone reproduces the network they were
saved from.

The reference is mmpretrain's iTPN (``iTPNHiViT`` and the pyramid of
``iTPNPretrainDecoder``, written by others) with random weights, run by the
detection forward of the official iTPN code, transcribed below
(``reference_pyramid``): the pyramid built in the official
``(B, N, h, w, C)`` patch layout, one MLP block per level, then two 2x2
average pools. The writers save the reference in each published layout:

- mmpretrain: ``{'state_dict': {'backbone.<HiViT>', 'neck.<pyramid and
  decoder>'}}``, ``backbone.pos_embed``, index buffers;
- official pixel (``models_itpn_mim.py``): ``{'model': ...}`` with
  ``absolute_pos_embed``, the pyramid at the top level, ``mask_token`` and
  the pixel decoder (``decoder_*``), one top-level index buffer;
- official CLIP (``iTPN_clip/modeling_pretrain.py``): the same encoder with
  layer scale and per-block relative tables, and the CLIP heads
  (``decoder_embed``, ``norm``, ``mask_token``, ``lm_head``,
  ``lm_cls_head``, ``norm_cls``, ``cls_pt_layers``).
"""
import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.necks.itpn_neck import iTPNPretrainDecoder
from mmpretrain.models.selfsup.itpn import iTPNHiViT

import published_writers as pw
from mmdet_vit_transfer.checkpoints import (convert_checkpoint, detect_format,
                                            load_pretrained)
from mmdet_vit_transfer.checkpoints.formats import unwrap_state_dict
from mmdet_vit_transfer.models.backbones import ITPNHiViT, PlainViTPyramid
from mmdet_vit_transfer.models.layers.vit_geometry import (
    resize_abs_pos_embed, resize_relative_table)

ATOL = 1e-4
EMBED_DIMS, NUM_HEADS, FPN_DIM = 64, 4, 32
IMG_SIZE = 64  # 4x4 tokens at stride 16 in "pre-training"
GRID = IMG_SIZE // 16
MAIN_DEPTH = 2
# mmpretrain counts the stem in pairs of MLP blocks: its [1, 1, 2] is two
# MLP blocks at stride 4, two at stride 8, two attention blocks.
MMPRETRAIN_ARCH = dict(embed_dims=EMBED_DIMS, depths=[1, 1, MAIN_DEPTH],
                       num_heads=NUM_HEADS)
ARCH = dict(embed_dims=EMBED_DIMS, depths=(2, 2, MAIN_DEPTH),
            num_heads=NUM_HEADS)
PYRAMID = ('align_dim_16tofpn', 'align_dim_16to8', 'split_16to8',
           'block_16to8', 'align_dim_8to4', 'split_8to4', 'block_8to4',
           'fpn_modules')
TOOL = Path(__file__).resolve().parents[2] / 'tools/convert_checkpoint.py'


def reference(clip: bool, seed: int = 1):
    """mmpretrain iTPN encoder and pre-training neck, random weights. CLIP
    pre-training: layer scale and a relative table per attention block."""
    backbone = iTPNHiViT(
        arch=MMPRETRAIN_ARCH, img_size=IMG_SIZE, rpe=clip,
        layer_scale_init_value=0.1 if clip else 0.0,
        reconstruction_type='clip')  # forward_clip runs without masking
    neck = iTPNPretrainDecoder(
        num_patches=GRID**2, embed_dim=EMBED_DIMS, fpn_dim=FPN_DIM,
        fpn_depth=2, decoder_embed_dim=32, decoder_depth=1,
        decoder_num_heads=4, num_outs=3,
        reconstruction_type='clip' if clip else 'pixel')
    return pw._randomize(backbone, seed), pw._randomize(neck, seed + 1)


def _patches_to_map(x: torch.Tensor) -> torch.Tensor:
    """Official layout ``(B, N, h, w, C)`` -> ``(B, C, GRID*h, GRID*w)``."""
    B = x.shape[0]
    return x.reshape(B, GRID, GRID, *x.shape[-3:]).permute(
        0, 5, 1, 3, 2, 4).reshape(B, -1, GRID * x.shape[-3],
                                  GRID * x.shape[-2])


def reference_stages(backbone, x):
    """Encoder features before each patch merge and at the end, as maps."""
    with torch.no_grad():
        f4, f8, f16 = backbone.forward_clip(
            x, torch.zeros(x.shape[0], GRID**2))
    return f4, f8, f16[..., None, None, :]


def reference_pyramid(backbone, neck, x, fpn_depth=2):
    """The official detection forward (``iTPN_pixel.forward_features`` with
    ``num_outs=5``) on mmpretrain's modules, finest level first."""
    f4, f8, y = reference_stages(backbone, x)
    with torch.no_grad():
        outs = [neck.align_dim_16tofpn(y)]
        y = neck.block_16to8[:fpn_depth](
            neck.split_16to8(y) + neck.align_dim_16to8(f8))
        outs.append(y)
        y = neck.block_8to4[:fpn_depth](
            neck.split_8to4(y) + neck.align_dim_8to4(f4))
        outs.append(y)
        outs = [_patches_to_map(neck.fpn_modules[i](out))
                for i, out in enumerate(outs)]
        outs.insert(0, F.avg_pool2d(outs[0], kernel_size=2, stride=2))
        outs.insert(0, F.avg_pool2d(outs[0], kernel_size=2, stride=2))
    return outs[::-1]


def mmpretrain_checkpoint(backbone, neck, clip):
    state = {f'backbone.{k}': v.clone()
             for k, v in backbone.state_dict().items()}
    state.update(
        {f'neck.{k}': v.clone() for k, v in neck.state_dict().items()})
    if clip:
        state['target_generator.proj'] = torch.randn(8, 8)
    return {'meta': {'epoch': 800}, 'state_dict': state}


def official_checkpoint(backbone, neck, clip):
    state = {}
    for key, value in backbone.state_dict().items():
        if key.endswith('attn.relative_position_index'):
            continue  # the official model keeps one index, at the top
        state['absolute_pos_embed' if key == 'pos_embed' else key] = \
            value.clone()
    for key, value in neck.state_dict().items():
        # decoder_embed, mask_token, decoder_pos_embed, decoder_blocks,
        # decoder_pred (pixel) or decoder_embed, norm (CLIP); the pyramid.
        state[re.sub(r'^ln1\.', 'decoder_norm.', key)] = value.clone()
    if clip:
        state['lm_head.weight'] = torch.randn(16, EMBED_DIMS)
        state['lm_cls_head.weight'] = torch.randn(16, EMBED_DIMS)
        state['norm_cls.weight'] = torch.randn(EMBED_DIMS)
        state['cls_pt_layers.0.attn.qkv.weight'] = torch.randn(
            3 * EMBED_DIMS, EMBED_DIMS)
        state['cls_pt_layers.0.gamma_1'] = torch.randn(EMBED_DIMS)
    else:
        assert 'mask_token' in state and 'decoder_norm.weight' in state
    return {'model': state}


WRITERS = {
    'itpn_pixel': (False, official_checkpoint),
    'itpn_clip': (True, official_checkpoint),
    'itpn_mmpretrain-pixel': (False, mmpretrain_checkpoint),
    'itpn_mmpretrain-clip': (True, mmpretrain_checkpoint),
}
# Keys each layout holds besides the encoder and pyramid, all to be dropped.
ON_PURPOSE_DROPS = {
    'itpn_pixel': r'^(mask_token|decoder_|relative_position_index)',
    'itpn_clip': (r'^(mask_token|decoder_embed\.|norm\.|lm_head\.|'
                  r'lm_cls_head\.|norm_cls\.|cls_pt_layers\.|'
                  r'relative_position_index)'),
    'itpn_mmpretrain': (r'^(backbone\.(mask_token|.*relative_position_index)'
                        r'|neck\.(?!(align_dim_|split_|block_|fpn_modules))'
                        r'|target_generator\.)'),
}


@pytest.fixture(scope='module')
def refs():
    return {False: reference(clip=False, seed=1),
            True: reference(clip=True, seed=5)}


@pytest.fixture(scope='module')
def images():
    return torch.randn(2, 3, IMG_SIZE, IMG_SIZE,
                       generator=torch.Generator().manual_seed(3))


def write(case, refs):
    clip, writer = WRITERS[case]
    return writer(*refs[clip], clip)


def itpn(clip=False, **kwargs):
    options = dict(arch=ARCH, img_size=IMG_SIZE, pretrain_img_size=IMG_SIZE,
                   fpn_dim=FPN_DIM, fpn_depth=2,
                   rel_pos='table' if clip else None,
                   layer_scale_init_value=0.1 if clip else 0.0)
    options.update(kwargs)
    model = ITPNHiViT(**options)
    model.init_weights()
    return model.eval()


def run(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize('case', sorted(WRITERS))
def test_layout_is_detected(case, refs):
    state, _ = unwrap_state_dict(write(case, refs))
    assert detect_format(state) == case.split('-')[0]


@pytest.mark.parametrize('fpn_depth', [2, 1])
@pytest.mark.parametrize('case', sorted(WRITERS))
def test_every_key_loads_and_reproduces_the_reference(case, fpn_depth, refs,
                                                      images):
    clip, _ = WRITERS[case]
    raw = write(case, refs)
    model = itpn(clip, fpn_depth=fpn_depth)
    report = load_pretrained(model, raw)

    # Every encoder and pyramid parameter comes from the checkpoint.
    assert report.missing == [] and report.kept_at_init == {}
    assert set(report.loaded) == set(model.state_dict())
    assert any(key.startswith('blocks.') for key in report.loaded)
    for name in PYRAMID:
        assert any(key.startswith(f'{name}.') for key in report.loaded)
    assert 'Missing in the checkpoint (left at init): none' in str(report)

    # What is dropped is the pre-training machinery, and with one pyramid
    # block per level (the published detection configs) the second ones.
    fmt = case.split('-')[0]
    assert report.format == fmt and report.detected
    state, _ = unwrap_state_dict(raw)
    expected = {k for k in state if re.match(ON_PURPOSE_DROPS[fmt], k)}
    if fpn_depth == 1:  # dropped after conversion: in the model's names
        expected |= {re.sub(r'^neck\.', '', k) for k in state
                     if re.search(r'block_(16to8|8to4)\.1\.', k)}
    assert set(report.dropped_keys) == expected
    assert report.resized == []

    outs = run(model, images)
    ref = reference_pyramid(*refs[clip], images, fpn_depth=fpn_depth)
    assert [tuple(o.shape) for o in outs] == [
        (2, FPN_DIM, IMG_SIZE // s, IMG_SIZE // s) for s in (4, 8, 16, 32, 64)
    ]
    for out, expected_out in zip(outs, ref):
        assert (out - expected_out).abs().max() < ATOL


def test_position_and_pyramid_are_what_make_them_match(refs, images):
    """The controls: without the pre-trained tables or pyramid block, or
    with a random absolute embedding, the outputs differ."""
    ref = reference_pyramid(*refs[True], images)
    raw = write('itpn_clip', refs)
    for options in (dict(rel_pos_init='zero'), dict(abs_pos_init='random')):
        model = itpn(clip=True)
        load_pretrained(model, raw, **options)
        assert (run(model, images)[2] - ref[2]).abs().max() > 1e-2
    model = itpn(clip=True, fpn_depth=1)
    load_pretrained(model, raw)
    assert (run(model, images)[0] - ref[0]).abs().max() > 1e-2


def test_stage_outputs_drop_the_pyramid(refs, images):
    """``out_type='stages'``: the encoder maps for a random FPN; the
    checkpoint's pyramid is dropped and said so."""
    raw = write('itpn_pixel', refs)
    model = itpn(out_type='stages')
    report = load_pretrained(model, raw)
    pyramid = [k for k in raw['model'] if k.startswith(PYRAMID)]
    reason = next(r for r in report.dropped if 'integral pyramid' in r)
    assert sorted(report.dropped[reason]) == sorted(pyramid)
    assert report.missing == []
    f4, f8, f16 = reference_stages(refs[False][0], images)
    for out, expected in zip(run(model, images),
                             map(_patches_to_map, (f4, f8, f16))):
        assert out.shape == expected.shape
        assert (out - expected).abs().max() < ATOL


def test_relative_tables_and_absolute_embedding_are_resized(refs):
    """At 128 px (8x8 tokens) the per-block 4x4-grid tables are resized into
    the model's 8x8 tables and the 4x4 absolute embedding to the stored 8x8
    grid, bicubically, each said in the report."""
    raw = write('itpn_clip', refs)
    model = itpn(clip=True, img_size=128, pretrain_img_size=128)
    report = load_pretrained(model, raw)
    src = raw['model']['blocks.6.attn.relative_position_bias_table']
    assert src.shape == ((2 * GRID - 1)**2, NUM_HEADS)
    assert torch.equal(model.blocks[6].attn.relative_position_bias_table,
                       resize_relative_table(src, (GRID, GRID), (8, 8), 0))
    pos = raw['model']['absolute_pos_embed']
    assert torch.equal(
        model.absolute_pos_embed,
        resize_abs_pos_embed(pos, (8, 8), num_extra_tokens=0).reshape(
            1, 64, EMBED_DIMS))
    assert report.resized == [
        'absolute_pos_embed: (1, 16, 64) -> (1, 64, 64) (grid 4x4 -> 8x8, '
        'bicubic)',
        f'blocks.*.attn.relative_position_bias_table (x{MAIN_DEPTH}): '
        '(49, 4) -> (225, 4) (offsets of a 4x4 grid -> 8x8, bicubic)',
    ]
    assert report.missing == []
    outs = run(model, torch.randn(1, 3, 128, 128))
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]


def test_decomposed_model_drops_the_tables_and_says_so(refs):
    """The published CLIP detector: decomposed relative positions from zero,
    the checkpoint's tables dropped."""
    raw = write('itpn_clip', refs)
    model = itpn(clip=True, rel_pos='decomposed')
    report = load_pretrained(model, raw)
    tables = [k for k in raw['model']
              if k.endswith('attn.relative_position_bias_table')]
    assert len(tables) == MAIN_DEPTH
    assert set(tables) <= set(report.dropped_keys)
    kept = report.kept_at_init['decomposed relative positions (zero)']
    assert sorted(kept) == sorted(
        f'blocks.{i}.attn.rel_pos_{axis}' for i in (6, 7) for axis in 'hw')
    assert all(not model.state_dict()[k].any() for k in kept)
    assert report.missing == []
    assert report.position['relative'] == 'decomposed, zero init'


@pytest.mark.parametrize('case', ['itpn_clip', 'itpn_mmpretrain-clip'])
def test_init_cfg_loads_published_and_converted_files_alike(case, refs,
                                                            tmp_path):
    """``init_cfg=dict(type='Pretrained', ...)`` through init_weights(),
    with the published file and with its conversion by
    ``tools/convert_checkpoint.py --format auto``."""
    raw = write(case, refs)
    published, converted = tmp_path / 'published.pth', tmp_path / 'conv.pth'
    torch.save(raw, published)
    spec = importlib.util.spec_from_file_location('convert_checkpoint', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(published), str(converted)]).format == \
        case.split('-')[0]
    states = []
    for path in (published, converted):
        model = ITPNHiViT(
            arch=ARCH, img_size=IMG_SIZE, pretrain_img_size=IMG_SIZE,
            fpn_dim=FPN_DIM, fpn_depth=2, rel_pos='table',
            layer_scale_init_value=0.1,
            init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
        states.append(model.state_dict())
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    loaded, _ = convert_checkpoint(raw)
    assert torch.equal(states[0]['split_16to8.reduction.weight'],
                       loaded['split_16to8.reduction.weight'])


def test_wrong_architecture_is_named(refs):
    raw = write('itpn_pixel', refs)
    with pytest.raises(ValueError, match=r'width 64 with depths \(2, 2, 2\)'
                       r'.*build it with arch=dict\(embed_dims=64, '
                       r'depths=\(2, 2, 2\)'):
        load_pretrained(itpn(arch=dict(ARCH, depths=(3, 3, 2))), raw)
    with pytest.raises(ValueError, match='width 64'):
        load_pretrained(
            itpn(arch=dict(ARCH, embed_dims=128, num_heads=4)), raw)
    with pytest.raises(ValueError, match='build it with fpn_dim=32'):
        load_pretrained(itpn(fpn_dim=64), raw)
    clip = write('itpn_clip', refs)
    with pytest.raises(ValueError, match='has 4 heads; the model has 2'):
        load_pretrained(
            itpn(clip=True, arch=dict(ARCH, num_heads=2)), clip)


def test_options_that_do_not_fit_the_model_or_checkpoint(refs):
    pixel, clip = write('itpn_pixel', refs), write('itpn_clip', refs)
    with pytest.raises(ValueError, match='layer_scale_init_value > 0'):
        load_pretrained(itpn(rel_pos='table'), clip)
    with pytest.raises(ValueError, match="has no relative position tables: "
                       "use 'zero'"):
        load_pretrained(itpn(clip=True), pixel, rel_pos_init='pretrained')
    with pytest.raises(ValueError, match="the checkpoint has no decomposed "
                       "relative positions"):
        load_pretrained(itpn(clip=True, rel_pos='decomposed'), clip,
                        rel_pos_init='pretrained')
    with pytest.raises(ValueError, match=r"model has no relative positions "
                       r"\(rel_pos=None\): use 'none'"):
        load_pretrained(itpn(), pixel, rel_pos_init='zero')
    with pytest.raises(ValueError, match='use_abs_pos=False'):
        load_pretrained(itpn(), pixel, abs_pos_init='none')
    with pytest.raises(ValueError, match="abs_pos_init must be one of"):
        load_pretrained(itpn(), pixel, abs_pos_init='resized')
    report = load_pretrained(itpn(use_abs_pos=False), pixel)
    assert report.dropped['absolute position embedding '
                          "(abs_pos_init='none')"] == ['absolute_pos_embed']


def test_vit_and_itpn_checkpoints_do_not_cross(refs):
    vit = pw.mae_checkpoint(pw.reference_vit())
    with pytest.raises(ValueError, match='a mae checkpoint .* holds a plain '
                       'ViT, which PlainViTPyramid loads'):
        load_pretrained(itpn(), vit)
    plain = PlainViTPyramid(arch=dict(embed_dims=64, depth=4, num_heads=4),
                            img_size=64, patch_size=8, pretrain_img_size=64,
                            window_size=8)
    with pytest.raises(ValueError, match='a itpn_pixel checkpoint .* holds '
                       'an iTPN, which ITPNHiViT loads'):
        load_pretrained(plain, write('itpn_pixel', refs))
    with pytest.raises(ValueError, match='no transformer blocks in the '
                       'itpn_pixel layout'):
        load_pretrained(itpn(), write('itpn_mmpretrain-pixel', refs),
                        fmt='itpn_pixel')


def test_a_checkpoint_without_pyramid_leaves_it_at_init(refs):
    """A classification fine-tuned iTPN keeps no pyramid: the encoder loads,
    the pyramid is reported missing."""
    raw = write('itpn_pixel', refs)
    encoder = {k: v for k, v in raw['model'].items()
               if not k.startswith(PYRAMID)}
    encoder['head.weight'] = torch.randn(10, EMBED_DIMS)
    encoder['fc_norm.weight'] = torch.randn(EMBED_DIMS)
    report = load_pretrained(itpn(), {'model': encoder})
    assert report.missing and all(k.startswith(PYRAMID)
                                  for k in report.missing)
    assert 'the checkpoint has no pyramid' in ' '.join(report.notes)
    assert {'head.weight', 'fc_norm.weight'} <= set(report.dropped_keys)
