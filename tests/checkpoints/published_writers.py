"""Reference ViTs written by others (mmpretrain) and writers of the
published checkpoint formats, for the checkpoint tests.

The references are filled with random weights (non-zero biases, layer
scales, position embeddings and relative tables) and their state dicts are
rewritten into the key layouts the authors published:

- MAE (facebookresearch/mae ``models_mae.py``, timm names): ``{'model': ...}``
  with ``cls_token``, ``pos_embed`` (1, 1+S*S, C), ``blocks.{i}...``,
  ``norm``, plus ``mask_token``, ``decoder_*`` in the visualisation files.
- DeiT (facebookresearch/deit, timm names): ``{'model': ...}`` with
  ``cls_token``, ``dist_token``, ``pos_embed`` (1, 2+S*S, C), ``norm``,
  ``head``, ``head_dist``.
- MoCo v3 (facebookresearch/moco-v3 ``main_moco.py``): ``{'state_dict':
  ...}`` with ``module.base_encoder.<timm names>`` (its projector replaces
  ``head``), ``module.momentum_encoder...`` and ``module.predictor...``;
  the repo's ``convert_to_deit.py`` keeps ``module.base_encoder.`` minus
  ``head``.
- BEiT (microsoft/unilm ``beit/modeling_pretrain.py``): ``{'model': ...}``
  with ``blocks.{i}.gamma_1/gamma_2``, ``blocks.{i}.attn.q_bias/v_bias``,
  either ``rel_pos_bias.relative_position_bias_table`` (+ ``_index``) or
  ``blocks.{i}.attn.relative_position_bias_table`` (+ ``_index``), no
  ``pos_embed``, ``cls_token``, ``mask_token``, ``norm``, ``lm_head``.
- mmpretrain zoo: ``{'state_dict': {'backbone.<mmpretrain names>', ...}}``.
"""
import re

import torch
from mmpretrain.models.backbones import BEiTViT, VisionTransformer

EMBED_DIMS, NUM_HEADS, DEPTH = 64, 4, 4
IMG_SIZE, PATCH_SIZE = 64, 8
GRID = IMG_SIZE // PATCH_SIZE  # 8x8 tokens at "pre-training" resolution
ARCH = dict(embed_dims=EMBED_DIMS, num_layers=DEPTH, num_heads=NUM_HEADS,
            feedforward_channels=4 * EMBED_DIMS)
# Token -> cls row of a BEiT table (mmpretrain's / BEiT's index layout:
# ..., cls->token (n-3), token->cls (n-2), cls->cls (n-1)).
TOKEN_TO_CLS_ROW = -2


def _randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random and far from its init, so a wrong mapping of
    any of them shows in the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if re.search(r'(ln\d|norm\d?)\.weight$', name):
                p.copy_(1 + 0.2 * noise)
            elif re.search(r'gamma', name):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif 'pos_embed' in name or 'relative_position' in name:
                p.copy_(0.5 * noise)
            else:
                p.copy_(0.08 * noise)
    model.eval()  # mmpretrain's train() returns None
    return model


def reference_vit(layer_scale: float = 0.0, seed: int = 1
                  ) -> VisionTransformer:
    """mmpretrain ViT without cls token (detection drops it; with one, the
    patch tokens would attend to it and no cls-free backbone could match)."""
    return _randomize(
        VisionTransformer(
            arch=ARCH, img_size=IMG_SIZE, patch_size=PATCH_SIZE,
            with_cls_token=False, out_type='featmap', final_norm=False,
            qkv_bias=True, layer_scale_init_value=layer_scale,
            norm_cfg=dict(type='LN', eps=1e-6)), seed)


def reference_beit(shared_table: bool = True, seed: int = 2) -> BEiTViT:
    """mmpretrain BEiTViT (cls token, q/v biases, layer scale, no absolute
    embedding). BEiTViT always runs with a cls token; its token->cls table
    row is set to -1e4 so that patch tokens give the cls key zero weight,
    which makes its patch features those of a cls-free backbone. The other
    cls rows are random; a backbone without cls token never reads them."""
    model = _randomize(
        BEiTViT(
            arch=ARCH, img_size=IMG_SIZE, patch_size=PATCH_SIZE,
            out_type='featmap', final_norm=False, bias='qv_bias',
            use_abs_pos_emb=False, use_rel_pos_bias=not shared_table,
            use_shared_rel_pos_bias=shared_table,
            layer_scale_init_value=0.1,
            norm_cfg=dict(type='LN', eps=1e-6)), seed)
    with torch.no_grad():
        tables = [p for n, p in model.named_parameters()
                  if n.endswith('relative_position_bias_table')]
        for table in tables:
            # Per-block tables: copies of one, as BEiT fine-tuning starts
            # from its shared pre-training table.
            table.copy_(tables[0])
            table[TOKEN_TO_CLS_ROW] = -1e4
    return model


def reference_features(model: torch.nn.Module,
                       x: torch.Tensor) -> torch.Tensor:
    """Patch tokens after the last block, before any final norm,
    ``(B, C, h, w)``."""
    with torch.no_grad():
        return model(x)[-1]


# mmpretrain names -> timm / BEiT names (the authors' published layout).
_TO_TIMM = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.gamma_1'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.gamma_2'),
    (r'^layers\.(\d+)\.', r'blocks.\1.'),
)


def timm_names(state: dict) -> dict:
    """mmpretrain backbone state dict in timm / BEiT key names."""
    out = {}
    for key, value in state.items():
        for pattern, replacement in _TO_TIMM:
            key, n = re.subn(pattern, replacement, key, count=1)
            if n:
                break
        out[key] = value.clone()
    return out


def _with_token_slots(pos_embed: torch.Tensor, slots: int) -> torch.Tensor:
    """Prepend ``slots`` random token slots (cls, dist) to a grid-only
    embedding, as models with those tokens store it."""
    extra = torch.randn(1, slots, pos_embed.shape[-1])
    return torch.cat([extra, pos_embed], dim=1)


def _timm_encoder(ref: VisionTransformer, slots: int = 1) -> dict:
    state = timm_names(ref.state_dict())
    state['pos_embed'] = _with_token_slots(state['pos_embed'], slots)
    state['cls_token'] = torch.randn(1, 1, EMBED_DIMS)
    state['norm.weight'] = torch.randn(EMBED_DIMS)
    state['norm.bias'] = torch.randn(EMBED_DIMS)
    return state


def mae_checkpoint(ref: VisionTransformer) -> dict:
    """MAE visualisation checkpoint: encoder, mask token and decoder."""
    state = _timm_encoder(ref)
    decoder_dims = 32
    state['mask_token'] = torch.randn(1, 1, decoder_dims)
    state['decoder_embed.weight'] = torch.randn(decoder_dims, EMBED_DIMS)
    state['decoder_embed.bias'] = torch.randn(decoder_dims)
    state['decoder_pos_embed'] = torch.randn(1, 1 + GRID**2, decoder_dims)
    for name, shape in (('norm1.weight', (decoder_dims, )),
                        ('attn.qkv.weight', (3 * decoder_dims,
                                             decoder_dims)),
                        ('mlp.fc1.weight', (4 * decoder_dims,
                                            decoder_dims))):
        state[f'decoder_blocks.0.{name}'] = torch.randn(shape)
    state['decoder_norm.weight'] = torch.randn(decoder_dims)
    state['decoder_pred.weight'] = torch.randn(PATCH_SIZE**2 * 3,
                                               decoder_dims)
    return {'model': state}


def deit_checkpoint(ref: VisionTransformer) -> dict:
    """DeiT distilled: cls and distillation tokens (two pos_embed slots)
    and both heads."""
    state = _timm_encoder(ref, slots=2)
    state['dist_token'] = torch.randn(1, 1, EMBED_DIMS)
    state['head.weight'] = torch.randn(10, EMBED_DIMS)
    state['head.bias'] = torch.randn(10)
    state['head_dist.weight'] = torch.randn(10, EMBED_DIMS)
    state['head_dist.bias'] = torch.randn(10)
    return {'model': state}


def mocov3_checkpoint(ref: VisionTransformer) -> dict:
    """MoCo v3 training checkpoint (DistributedDataParallel ``module.``)."""
    encoder = _timm_encoder(ref)
    encoder['head.0.weight'] = torch.randn(128, EMBED_DIMS)  # projector
    encoder['head.1.running_mean'] = torch.randn(128)
    state = {f'module.base_encoder.{k}': v for k, v in encoder.items()}
    state.update({f'module.momentum_encoder.{k}': torch.randn_like(v)
                  for k, v in encoder.items()})
    state['module.predictor.0.weight'] = torch.randn(128, 128)
    state['module.predictor.3.weight'] = torch.randn(32, 128)
    return {'epoch': 300, 'arch': 'vit_base', 'state_dict': state,
            'optimizer': {'state': {}, 'param_groups': [{'lr': 1.5e-4}]}}


def beit_checkpoint(ref: BEiTViT) -> dict:
    """BEiT pre-training checkpoint (shared or per-block tables, whichever
    the reference has), with its index buffers, tokens and LM head."""
    state = timm_names(ref.state_dict())
    state['mask_token'] = torch.randn(1, 1, EMBED_DIMS)
    state['norm.weight'] = torch.randn(EMBED_DIMS)
    state['norm.bias'] = torch.randn(EMBED_DIMS)
    state['lm_head.weight'] = torch.randn(8192 // 64, EMBED_DIMS)
    state['lm_head.bias'] = torch.randn(8192 // 64)
    assert 'pos_embed' not in state and 'cls_token' in state
    return {'model': state}


def mmpretrain_checkpoint(ref: torch.nn.Module) -> dict:
    """mmpretrain zoo checkpoint of the whole classifier / self-supervised
    model: backbone (with a cls token, as the zoo ViTs have), neck, head."""
    state = {f'backbone.{k}': v.clone() for k, v in ref.state_dict().items()}
    if isinstance(ref, VisionTransformer):
        state['backbone.pos_embed'] = _with_token_slots(
            state['backbone.pos_embed'], 1)
        state['backbone.cls_token'] = torch.randn(1, 1, EMBED_DIMS)
        state['backbone.ln1.weight'] = torch.randn(EMBED_DIMS)
        state['backbone.ln1.bias'] = torch.randn(EMBED_DIMS)
    state['neck.decoder.0.weight'] = torch.randn(32, EMBED_DIMS)
    state['head.fc.weight'] = torch.randn(10, EMBED_DIMS)
    state['head.fc.bias'] = torch.randn(10)
    return {'meta': {'epoch': 300}, 'state_dict': state}
