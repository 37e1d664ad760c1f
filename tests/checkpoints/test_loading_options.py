"""The paper's position-information options, the load report and the
refusals: what each option loads, and a clear error for every file that is
not a usable checkpoint of the model."""
import argparse
import json
import os

import pytest
import torch

import published_writers as pw
from mmdet_vit_transfer.checkpoints import (load_pretrained,
                                            pretrained_options,
                                            read_checkpoint)
from mmdet_vit_transfer.models.backbones import PlainViTPyramid

SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'


def plain_vit(beit=False, **kwargs):
    options = dict(
        arch=dict(embed_dims=pw.EMBED_DIMS, depth=pw.DEPTH,
                  num_heads=pw.NUM_HEADS),
        img_size=pw.IMG_SIZE, patch_size=pw.PATCH_SIZE,
        pretrain_img_size=pw.IMG_SIZE, window_size=pw.GRID,
        global_attn_indexes=[1, 3])
    if beit:
        options.update(qkv_bias='qv', layer_scale_init_value=0.1)
    options.update(kwargs)
    model = PlainViTPyramid(**options)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def mae():
    return pw.mae_checkpoint(pw.reference_vit())


@pytest.fixture(scope='module')
def beit():
    return pw.beit_checkpoint(pw.reference_beit())


def tables(model):
    return [getattr(model, name).relative_position_bias_table
            for name in ('rel_pos_window', 'rel_pos_global')]


# --- absolute position embedding: pretrained / random / none -------------

def test_abs_pos_pretrained_is_the_checkpoints(mae):
    model = plain_vit()
    report = load_pretrained(model, mae, abs_pos_init='pretrained')
    assert torch.equal(model.pos_embed, mae['model']['pos_embed'])
    assert report.position['absolute'] == 'pre-trained (8x8 grid)'


def test_abs_pos_random_keeps_the_init_and_says_so(mae):
    model = plain_vit()
    init = model.pos_embed.detach().clone()
    report = load_pretrained(model, mae, abs_pos_init='random')
    assert torch.equal(model.pos_embed, init)
    assert init.std() > 0.01  # truncated normal, std 0.02
    assert 'pos_embed' in report.dropped_keys
    assert report.kept_at_init == {
        'absolute position embedding (random)': ['pos_embed']}
    assert report.missing == []


def test_abs_pos_none_needs_a_model_without_one(mae):
    model = plain_vit(use_abs_pos=False)
    report = load_pretrained(model, mae, abs_pos_init='none')
    assert model.pos_embed is None
    assert 'pos_embed' in report.dropped_keys
    assert report.position['absolute'] == 'none'
    with pytest.raises(ValueError, match='use_abs_pos=False'):
        load_pretrained(plain_vit(), mae, abs_pos_init='none')
    with pytest.raises(ValueError, match="abs_pos_init='pretrained', but the "
                       'model has no absolute'):
        load_pretrained(plain_vit(use_abs_pos=False), mae,
                        abs_pos_init='pretrained')


def test_beit_abs_pos_defaults_to_random_and_cannot_be_pretrained(beit):
    model = plain_vit(beit=True)
    report = load_pretrained(model, beit)
    assert report.position['absolute'].startswith('random')
    with pytest.raises(ValueError, match='no pos_embed'):
        load_pretrained(plain_vit(beit=True), beit, abs_pos_init='pretrained')


# --- relative tables: pretrained / zero / none ---------------------------

def test_rel_pos_zero_is_the_default_without_a_table(mae):
    model = plain_vit()
    for table in tables(model):
        table.data.fill_(1.0)
    report = load_pretrained(model, mae)
    assert all(not table.any() for table in tables(model))
    assert report.position['relative'] == 'zero-initialised tables'
    with pytest.raises(ValueError, match='no relative position table'):
        load_pretrained(plain_vit(), mae, rel_pos_init='pretrained')


def test_rel_pos_pretrained_is_the_default_with_a_table(beit):
    model = plain_vit(beit=True)
    report = load_pretrained(model, beit)
    for table in tables(model):
        assert torch.equal(table, beit['model'][SHARED_TABLE])
    assert report.position['relative'].startswith('pre-trained table')


def test_rel_pos_zero_drops_beits_table(beit):
    model = plain_vit(beit=True)
    report = load_pretrained(model, beit, rel_pos_init='zero')
    assert all(not table.any() for table in tables(model))
    assert SHARED_TABLE in report.dropped_keys


def test_rel_pos_none_needs_a_model_without_tables(beit):
    model = plain_vit(beit=True, rel_pos=None)
    report = load_pretrained(model, beit, rel_pos_init='none')
    assert not any('rel_pos' in key for key in model.state_dict())
    assert SHARED_TABLE in report.dropped_keys
    assert report.position['relative'] == 'none'
    assert report.missing == []
    with pytest.raises(ValueError, match='rel_pos=None'):
        load_pretrained(plain_vit(beit=True), beit, rel_pos_init='none')


def test_decomposed_rel_pos_left_at_zero_and_reported(mae):
    model = plain_vit(rel_pos='decomposed')
    report = load_pretrained(model, mae)
    reported = report.kept_at_init['decomposed relative positions (zero)']
    assert len(reported) == 2 * pw.DEPTH
    assert report.missing == []


def test_qkv_bias_model_takes_beits_q_and_v_bias(beit):
    """A model with one qkv bias gets BEiT's q and v biases and a zero k
    bias (the key bias changes no attention weight)."""
    model = plain_vit(layer_scale_init_value=0.1)
    report = load_pretrained(model, beit)
    bias = model.blocks[2].attn.qkv.bias
    q, k, v = bias.chunk(3)
    assert torch.equal(q, beit['model']['blocks.2.attn.q_bias'])
    assert torch.equal(v, beit['model']['blocks.2.attn.v_bias'])
    assert not k.any()
    assert any('merged' in note for note in report.notes)


@pytest.mark.parametrize('option,value', [('abs_pos_init', 'learned'),
                                          ('rel_pos_init', 'random')])
def test_unknown_option_is_named(mae, option, value):
    with pytest.raises(ValueError, match=f"{option} must be one of .*"
                       f"got '{value}'"):
        load_pretrained(plain_vit(), mae, **{option: value})


@pytest.mark.parametrize('old, new', [('abs_pos', 'abs_pos_init'),
                                      ('rel_pos', 'rel_pos_init')])
def test_old_init_cfg_names_are_refused_with_the_new_one(old, new):
    init_cfg = dict(type='Pretrained', checkpoint='x.pth', **{old: 'zero'})
    with pytest.raises(ValueError,
                       match=f"init_cfg option '{old}' is now '{new}'"):
        pretrained_options(init_cfg)
    with pytest.raises(ValueError, match="rel_pos='shared_table' is now "
                       "rel_pos='table'"):
        plain_vit(rel_pos='shared_table')


def test_report_is_logged_in_full(mae):
    report = load_pretrained(plain_vit(), mae)
    text = str(report)
    for line in ('Checkpoint format: mae (detected',
                 f'Loaded {len(report.loaded)} tensors',
                 'decoder: decoder_embed.weight',
                 'absolute: pre-trained (8x8 grid)',
                 'Missing in the checkpoint (left at init): none'):
        assert line in text


def test_missing_keys_are_reported(mae):
    raw = {'model': {k: v for k, v in mae['model'].items()
                     if k != 'blocks.1.mlp.fc2.bias'}}
    report = load_pretrained(plain_vit(), raw)
    assert report.missing == ['blocks.1.mlp.fc2.bias']
    assert 'left at init): blocks.*.mlp.fc2.bias' in str(report)


# --- refusals --------------------------------------------------------------

def test_wrong_depth_or_width_is_named(mae):
    with pytest.raises(ValueError, match='checkpoint has 4 blocks of width '
                       '64; the model has 6 of width 64'):
        load_pretrained(plain_vit(arch=dict(embed_dims=64, depth=6,
                                            num_heads=4)), mae)
    with pytest.raises(ValueError, match='checkpoint has 4 blocks of width '
                       '64; the model has 4 of width 96'):
        load_pretrained(plain_vit(arch=dict(embed_dims=96, depth=4,
                                            num_heads=4)), mae)


def test_layer_scale_checkpoint_into_model_without_it(beit):
    with pytest.raises(ValueError, match='layer_scale_init_value > 0'):
        load_pretrained(plain_vit(qkv_bias='qv'), beit)


def test_checkpoint_leaving_most_blocks_random_is_refused(mae):
    partial = {'model': {k: v for k, v in mae['model'].items()
                         if not k.startswith('blocks.') or '.norm' in k}}
    with pytest.raises(RuntimeError, match='would leave .* block parameters '
                       'at random init'):
        load_pretrained(plain_vit(), partial)


@pytest.mark.parametrize('content', [
    os.urandom(4096),
    json.dumps({'model': {'blocks.0.norm1.weight': [1.0, 2.0]}}).encode(),
], ids=['random_bytes', 'json'])
def test_not_a_checkpoint_file(content, tmp_path):
    path = tmp_path / 'weights.pth'
    path.write_bytes(content)
    with pytest.raises(ValueError, match='is not a PyTorch checkpoint'):
        read_checkpoint(path)
    with pytest.raises(ValueError, match='is not a PyTorch checkpoint'):
        load_pretrained(plain_vit(), path)


@pytest.mark.parametrize('raw,message', [
    ({}, 'not a checkpoint: no tensors'),
    ({'model': {}}, 'not a checkpoint: no tensors'),
    (torch.zeros(3), 'expected a dict of tensors, got Tensor'),
    ({'model': {'fc.weight': torch.zeros(2, 2)}},
     'unknown checkpoint format'),
])
def test_empty_or_foreign_dicts(raw, message, tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save(raw, path)
    with pytest.raises(ValueError, match=message):
        load_pretrained(plain_vit(), path)


def test_format_without_blocks_in_its_layout(mae):
    with pytest.raises(ValueError, match='no transformer blocks in the '
                       'mmpretrain layout'):
        load_pretrained(plain_vit(), mae, fmt='mmpretrain')
    with pytest.raises(ValueError, match="unknown checkpoint format 'vit'"):
        load_pretrained(plain_vit(), mae, fmt='vit')


class _RunsCodeWhenLoaded:
    """Unpickling this calls os.mkdir: what a malicious file could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path, )


def test_pickle_needing_code_is_refused_and_not_run(mae, tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'malicious.pth'
    torch.save({'model': mae['model'],
                'payload': _RunsCodeWhenLoaded(str(marker))}, path)
    with pytest.raises(RuntimeError,
                       match=r'needs arbitrary code to unpickle '
                       r'\((posix|os|nt)\.mkdir\) and is refused'):
        load_pretrained(plain_vit(), path)
    assert not marker.exists()
    with pytest.raises(RuntimeError, match='arbitrary code'):
        PlainViTPyramid(
            arch=dict(embed_dims=pw.EMBED_DIMS, depth=pw.DEPTH,
                      num_heads=pw.NUM_HEADS),
            init_cfg=dict(type='Pretrained', checkpoint=str(path))
        ).init_weights()
    assert not marker.exists()


def test_training_args_saved_with_the_weights_are_read(mae, tmp_path):
    """MAE / BEiT / DeiT ``save_model`` pickle their argparse Namespace
    next to the weights: plain data, allowed."""
    path = tmp_path / 'with_args.pth'
    torch.save({'model': mae['model'], 'epoch': 799,
                'args': argparse.Namespace(lr=1.5e-4, model='mae')}, path)
    assert read_checkpoint(path)['args'].model == 'mae'
    assert load_pretrained(plain_vit(), path).missing == []


def test_init_cfg_options_are_checked(mae, tmp_path):
    path = tmp_path / 'mae.pth'
    torch.save(mae, path)
    model = PlainViTPyramid(
        arch=dict(embed_dims=pw.EMBED_DIMS, depth=pw.DEPTH,
                  num_heads=pw.NUM_HEADS),
        img_size=pw.IMG_SIZE, patch_size=pw.PATCH_SIZE,
        pretrain_img_size=pw.IMG_SIZE,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      abs_pos_init='random', prefix='backbone.'))
    with pytest.raises(ValueError, match='prefix'):
        model.init_weights()
