"""Today's pre-trained ViT families, loaded as their authors publish them,
give the numbers of the families' own code.

Each reference is a small float64 model built with the family's code
(``family_references``: timm for DINOv2, DeiT III, BEiT v2 and SigLIP,
open_clip for CLIP, segment_anything for SAM) with random weights. Its
state is written in each published layout, loaded into ``PlainViTPyramid``
through ``init_cfg`` (the family's preset at a tiny size, global attention
at the pre-training grid, SAM with its own windows and global blocks), and
the patch tokens after every block, and the gradient of the input image,
must equal the reference's to 1e-9.
"""
import re

import pytest
import timm
import torch
from safetensors.torch import save_file

import family_references as fr
from mmdet_vit_transfer.checkpoints import load_pretrained, read_checkpoint
from mmdet_vit_transfer.checkpoints.formats import (FORMATS,
                                                    convert_checkpoint,
                                                    unwrap_state_dict)
from mmdet_vit_transfer.models.backbones import PlainViTPyramid
from mmdet_vit_transfer.models.backbones.vit_presets import ARCH_ZOO

TOLERANCE = 1e-9


class Family:
    """A family's reference, its published layouts (format -> writer of a
    file at a path) and how our backbone is set up like the reference."""

    def __init__(self, preset, img_size, reference, features, layouts,
                 **model_options):
        self.preset, self.img_size = preset, img_size
        self.reference, self.features = reference, features
        self.layouts, self.model_options = layouts, model_options


def saved(writer):
    """A writer of a pickled checkpoint, from one of the state dict."""
    def write(ref, path):
        torch.save(writer(ref), path)
    return write


def safetensors_file(ref, path):
    save_file(fr.open_clip_state(ref), str(path))


FAMILIES = {
    'dinov2': Family('dinov2-b14', 56, lambda: fr.timm_vit('dinov2', 56),
                     fr.timm_vit_features, {
                         'dinov2': saved(fr.dinov2_hub_checkpoint),
                         'timm': saved(fr.timm_layout)}),
    'dinov2_reg': Family(
        'dinov2-reg4-b14', 56, lambda: fr.timm_vit('dinov2_reg', 56),
        fr.timm_vit_features, {'dinov2': saved(fr.dinov2_hub_checkpoint),
                               'timm': saved(fr.timm_layout)}),
    'deit3': Family('deit3-b16', 64, lambda: fr.timm_vit('deit3', 64),
                    fr.timm_vit_features, {
                        'deit3': saved(fr.deit3_checkpoint),
                        'timm': saved(fr.timm_layout)}),
    'beitv2': Family('beitv2-b16', 64, lambda: fr.beitv2(64),
                     fr.beitv2_features,
                     {'beitv2': saved(fr.beitv2_checkpoint)}),
    'clip_openai': Family(
        'clip-b16', 64, lambda: fr.clip(64, quick_gelu=True),
        fr.clip_features, {'openai_clip': fr.openai_clip_archive}),
    'clip_open_clip': Family(
        'openclip-b16', 64, lambda: fr.clip(64, quick_gelu=False),
        fr.clip_features, {'open_clip': saved(fr.open_clip_state),
                           'open_clip.safetensors': safetensors_file}),
    'siglip': Family('siglip-b16', 64, lambda: fr.timm_vit('siglip', 64),
                     fr.timm_vit_features, {
                         'timm': saved(fr.timm_layout),
                         'open_clip_timm': saved(
                             fr.siglip_open_clip_checkpoint)}),
    'eva02': Family('eva02-b14', 56, lambda: fr.eva02(56), fr.eva_features,
                    {'eva02': saved(fr.eva02_checkpoint),
                     'eva02_timm': saved(fr.timm_layout)}, rope_grid=4),
    'dinov3': Family('dinov3-b16', 64, lambda: fr.dinov3(64),
                     fr.eva_features,
                     {'dinov3': saved(fr.dinov3_hub_checkpoint),
                      'dinov3_timm': saved(fr.timm_layout)}),
    'dinov3_plus': Family('dinov3-lplus16', 64,
                          lambda: fr.dinov3(64, swiglu=True),
                          fr.eva_features,
                          {'dinov3': saved(fr.dinov3_hub_checkpoint),
                           'dinov3_timm': saved(fr.timm_layout)}),
    'dinov2_g': Family('dinov2-g14', 56, lambda: fr.timm_giant_like(56),
                       fr.timm_vit_features, {
                           'dinov2': saved(fr.dinov2_giant_hub_checkpoint),
                           'timm': saved(fr.timm_layout)}, mlp_ratio=4.0),
    'sam': Family('sam-b16', 96, lambda: fr.sam_encoder(96, 4, [1, 3]),
                  fr.sam_features, {'sam': saved(fr.sam_checkpoint),
                                    'timm': saved(fr.sam_timm_layout)},
                  window_size=4, global_attn_indexes=[1, 3]),
}
CASES = [(family, layout) for family, spec in FAMILIES.items()
         for layout in spec.layouts]
#: Why the keys each layout holds besides the backbone are dropped.
_TIMM = {'cls token', 'pre-training head', 'final norm'}
DROPPED = {
    ('dinov2', 'dinov2'): {'cls token', 'mask token', 'final norm'},
    ('dinov2', 'timm'): _TIMM,
    ('dinov2_reg', 'dinov2'): {'cls token', 'mask token', 'final norm'},
    ('dinov2_reg', 'timm'): _TIMM,
    ('deit3', 'deit3'): _TIMM,
    ('deit3', 'timm'): _TIMM,
    ('beitv2', 'beitv2'): {'cls token', 'mask token', 'final norm',
                           'pre-training head', 'relative position index',
                           'blocks of the cls pre-training'},
    ('clip_openai', 'openai_clip'): {
        'cls token', 'final norm', 'projection', 'text tower',
        'contrastive logit scale', 'model constants'},
    ('clip_open_clip', 'open_clip'): {
        'cls token', 'final norm', 'projection', 'text tower',
        'contrastive logit scale'},
    ('siglip', 'timm'): {'attention pooling head', 'pre-training head',
                         'final norm'},
    ('siglip', 'open_clip_timm'): {'attention pooling head', 'final norm',
                                   'text tower', 'contrastive logit scale'},
    ('eva02', 'eva02'): {'cls token', 'mask token', 'final norm',
                         'pre-training head'},
    ('eva02', 'eva02_timm'): _TIMM,
    ('dinov3', 'dinov3'): {'cls token', 'mask token', 'final norm',
                           'bias masks'},
    ('dinov3', 'dinov3_timm'): _TIMM,
    ('dinov2_g', 'dinov2'): {'cls token', 'mask token', 'final norm'},
    ('dinov2_g', 'timm'): _TIMM,
    ('sam', 'sam'): {"SAM's neck", 'prompt encoder', 'mask decoder'},
    ('sam', 'timm'): {"SAM's neck"},
}
DROPPED[('clip_open_clip', 'open_clip.safetensors')] = DROPPED[
    ('clip_open_clip', 'open_clip')]
DROPPED[('dinov3_plus', 'dinov3')] = DROPPED[('dinov3', 'dinov3')]
DROPPED[('dinov3_plus', 'dinov3_timm')] = _TIMM


@pytest.fixture(scope='module')
def references():
    return {}


def reference(references, family):
    if family not in references:
        references[family] = FAMILIES[family].reference()
    return references[family]


def our_backbone(family, checkpoint, **options):
    """The family's preset at the reference's tiny size and grid, all
    blocks tapped (global unless ``options`` say otherwise), loaded from
    ``checkpoint`` through ``init_cfg``."""
    spec = FAMILIES[family]
    options = dict(dict(window_size=0, out_indices=list(range(fr.DEPTH))),
                   **spec.model_options, **options)
    model = PlainViTPyramid(
        arch=dict(ARCH_ZOO[spec.preset], **fr.TINY),
        img_size=spec.img_size, pretrain_img_size=spec.img_size,
        init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)),
        **options)
    model.double()
    model.init_weights()
    return model.eval()


def outputs_and_input_grad(features, x):
    """The maps of ``features(x)`` and the gradient of a fixed random
    projection of them with respect to ``x``."""
    x = x.clone().requires_grad_(True)
    outs = features(x)
    gen = torch.Generator().manual_seed(5)
    loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum()
               for o in outs)
    loss.backward()
    return [o.detach() for o in outs], x.grad


def image(family, batch=2):
    size = FAMILIES[family].img_size
    return torch.randn(batch, 3, size, size, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(6))


def write(family, layout, ref, tmp_path):
    path = tmp_path / f'{family}_{layout}'.replace('.', '_')
    if layout.endswith('.safetensors'):
        path = path.with_suffix('.safetensors')
    FAMILIES[family].layouts[layout](ref, path)
    return path


@pytest.mark.parametrize('family, layout', CASES)
def test_published_layout_gives_the_reference_numbers(family, layout,
                                                      references, tmp_path):
    ref = reference(references, family)
    path = write(family, layout, ref, tmp_path)
    model = our_backbone(family, path)
    x = image(family)
    want, want_grad = outputs_and_input_grad(
        lambda t: FAMILIES[family].features(ref, t), x)
    got, got_grad = outputs_and_input_grad(model, x)
    assert len(got) == len(want) == fr.DEPTH
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert (g - w).abs().max().item() <= TOLERANCE
    assert (got_grad - want_grad).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize('family, layout', CASES)
def test_layout_is_detected_and_its_extras_dropped_with_reasons(
        family, layout, references, tmp_path):
    ref = reference(references, family)
    raw = read_checkpoint(write(family, layout, ref, tmp_path))
    state, report = convert_checkpoint(raw)
    assert report.detected and report.format == layout.split('.')[0]
    reasons = {reason for reason in report.dropped}
    for expected in DROPPED[(family, layout)]:
        assert any(r.startswith(expected) for r in reasons), (expected,
                                                             reasons)
    assert all(key.startswith(('blocks.', 'patch_embed.', 'pos_embed',
                               'norm_pre.', 'reg_token', 'rel_pos_bias.',
                               'rope.'))
               for key in state), sorted(state)


def test_every_layout_matches_one_format_only(references, tmp_path):
    """No two registered predicates claim a file: detection is the one
    specific format, else the generic timm layout."""
    for family, layout in CASES:
        raw = read_checkpoint(write(family, layout,
                                    reference(references, family), tmp_path))
        state, _ = unwrap_state_dict(raw)
        specific = [f.name for f in FORMATS.values()
                    if not f.generic and f.detect(state)]
        assert specific == ([] if layout == 'timm' else
                            [layout.split('.')[0]]), (family, layout)


@pytest.mark.parametrize('family, layout, init_options, options, message', [
    ('clip_openai', 'openai_clip', {}, dict(act_layer='gelu'),
     r"trained with act_layer='quick_gelu'; the model has act_layer='gelu'"),
    ('dinov2', 'dinov2', {}, dict(patch_size=16),
     r'patch embedding is 14x14 \(patch 14\); the model has patch_size=16'),
    ('dinov2_reg', 'dinov2', {}, dict(reg_tokens=0),
     'the checkpoint has 4 register tokens; the model was built with '
     'reg_tokens=0'),
    ('dinov2', 'timm', {}, dict(reg_tokens=4),
     'the checkpoint has 0 register tokens; the model was built with '
     'reg_tokens=4'),
    ('clip_open_clip', 'open_clip', {}, dict(patch_bias=True),
     "patch projection has no bias"),
    ('clip_open_clip', 'open_clip', {}, dict(pre_norm=False),
     r'no place in the model: norm_pre.weight, norm_pre.bias \(a norm before '
     r"the blocks, CLIP's ln_pre"),
    ('dinov2', 'dinov2', {}, dict(layer_scale_init_value=0.0),
     r'no place in the model: blocks.\*.ls1.gamma .*layer_scale_init_value'),
    ('sam', 'sam', dict(rel_pos_init='pretrained'), dict(rel_pos=None),
     r"rel_pos_init='pretrained', but the model has no relative positions"),
    ('eva02', 'eva02', {}, dict(rope=None),
     r"has rotary positions \('eva'\); the model was built with rope=None"),
    ('dinov3', 'dinov3_timm', {}, dict(rope=None),
     r"\(vit_\*_dinov3\).* has rotary positions \('dinov3'\); the model "
     r'was built with rope=None'),
    # Read as plain timm names, it has no position information at all.
    ('dinov3', 'dinov3_timm', dict(format='timm'), dict(rope=None),
     'has no absolute embedding, relative positions or rotary periods'),
    ('dinov2', 'dinov2', {}, dict(rope='dinov3'),
     "has no rotary positions; the model was built with rope='dinov3'"),
    ('dinov3_plus', 'dinov3', {}, dict(mlp_layer='mlp'),
     r"blocks.\*.mlp.fc1_g.weight .*a SwiGLU MLP: build the model with "
     r"mlp_layer='swiglu'"),
    ('dinov3', 'dinov3', {}, dict(mlp_layer='swiglu'),
     r"blocks.\*.mlp.fc1.weight .*a two-layer MLP: build the model with "
     r"mlp_layer='mlp'"),
])
def test_a_file_of_another_family_is_refused_in_one_line(
        family, layout, init_options, options, message, references,
        tmp_path):
    path = write(family, layout, reference(references, family), tmp_path)
    spec = FAMILIES[family]
    model = PlainViTPyramid(
        arch=dict(ARCH_ZOO[spec.preset], **fr.TINY, **options),
        img_size=spec.img_size, pretrain_img_size=spec.img_size,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      **init_options), **spec.model_options)
    with pytest.raises(ValueError, match=message) as error:
        model.init_weights()
    assert '\n' not in str(error.value)


def test_patch_14_resampled_to_16_keeps_each_patch_embedding(
        references, tmp_path):
    """FlexiViT's resize: a 16x16 kernel resampled from a 14x14 one gives,
    on each patch upsampled (bicubic) to 16x16, the 14x14 kernel's
    embedding of the patch (to float32 precision: timm computes the
    pseudo-inverse in float32)."""
    path = write('dinov2', 'dinov2', reference(references, 'dinov2'),
                 tmp_path)
    native = our_backbone('dinov2', path)
    resampled = PlainViTPyramid(
        arch=dict(ARCH_ZOO['dinov2-b14'], **fr.TINY), patch_size=16,
        img_size=64, pretrain_img_size=64, window_size=0,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      resample_patch_embed=True)).double()
    resampled.init_weights()
    patches = torch.randn(6, 3, 14, 14, dtype=torch.float64)
    upsampled = torch.nn.functional.interpolate(
        patches, size=(16, 16), mode='bicubic', antialias=True)
    want = native.patch_embed.proj(patches)
    got = resampled.patch_embed.proj(upsampled)
    assert (got - want).abs().max() < 1e-5 * want.abs().max()
    # Its 4x4 position grid (56 px at patch 14) went into 4x4 at 64 px.
    assert torch.equal(resampled.pos_embed, native.pos_embed)


def test_open_clip_safetensors_and_pickle_hold_the_same_tensors(
        references, tmp_path):
    ref = reference(references, 'clip_open_clip')
    pickled = read_checkpoint(write('clip_open_clip', 'open_clip', ref,
                                    tmp_path))
    safe = read_checkpoint(write('clip_open_clip', 'open_clip.safetensors',
                                 ref, tmp_path))
    assert sorted(pickled) == sorted(safe)
    assert all(torch.equal(pickled[k], safe[k]) for k in pickled)


def test_load_report_of_a_published_dinov2_file(references, tmp_path):
    path = write('dinov2_reg', 'dinov2', reference(references, 'dinov2_reg'),
                 tmp_path)
    model = PlainViTPyramid(
        arch=dict(ARCH_ZOO['dinov2-reg4-b14'], **fr.TINY), patch_size=16,
        img_size=128, pretrain_img_size=80)
    model.init_weights()
    report = str(load_pretrained(model, str(path), resample_patch_embed=True))
    for line in ('Checkpoint format: dinov2 (detected',
                 'register tokens (detection drops them with the cls token): '
                 'reg_token', 'mask token: mask_token',
                 '(patch 14 -> 16, pseudo-inverse resize of FlexiViT)',
                 'pos_embed: (1, 17, 64) -> (1, 26, 64) (grid 4x4 -> 5x5, '
                 'bicubic)', 'Missing in the checkpoint (left at init): none'):
        assert line in report, (line, report)


@pytest.mark.parametrize('family, rope_table', [
    # EVA-02's detection code builds the window's table for the window size
    # on the pre-training grid (EVA-02/det/.../backbone/vit.py, rope_win).
    ('eva02', lambda ref: timm.layers.RotaryEmbeddingCat(
        fr.EMBED_DIMS // fr.NUM_HEADS, in_pixels=False,
        ref_feat_shape=(4, 4), feat_shape=(2, 2)).get_embed()),
    # Ours for DINOv3: a window is rotated as an image of its own.
    ('dinov3', lambda ref: timm.layers.pos_embed_sincos.RotaryEmbeddingDinoV3(
        fr.EMBED_DIMS // fr.NUM_HEADS, temperature=100,
        feat_shape=(2, 2)).get_embed()),
])
def test_windowed_blocks_rotate_each_window_by_the_rule(
        family, rope_table, references, tmp_path):
    """Every block windowed (2x2 windows on the 4x4 grid): the family's
    blocks applied to each window separately with the rule's rotary table
    give our windowed blocks' outputs."""
    ref = reference(references, family)
    path = write(family, family, ref, tmp_path)
    model = our_backbone(family, path, window_size=2, global_attn_indexes=[])
    x = image(family)
    rope = rope_table(ref).to(torch.float64)
    with torch.no_grad():
        want = fr.windowed_eva_features(ref, x, 2, rope)
        got = model(x)
    for g, w in zip(got, want):
        assert (g - w).abs().max().item() <= TOLERANCE
