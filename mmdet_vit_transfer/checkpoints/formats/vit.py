"""The formats of the paper's initialisations (docs/checkpoints.md): timm's
layout (supervised ViT, MAE's encoder, and every family's weights as timm
publishes them), MAE with its decoder, distilled DeiT, BEiT, MoCo v3 and
the mmpretrain zoo."""
from .registry import (LAYER_SCALE_RENAMES, SourceFormat, has_key,
                       is_plain_vit, register_format)

_BEIT_CLUE = r'\.attn\.q_bias$|relative_position_bias_table$'

register_format(SourceFormat(
    'timm', 'timm layout: supervised ViT, MAE without its decoder, and '
    'DINOv2, DeiT III, SigLIP or SAM weights as timm publishes them',
    detect=is_plain_vit, generic=True))

register_format(SourceFormat(
    'mae', 'MAE: timm names with a decoder',
    detect=lambda state: is_plain_vit(state) and has_key(
        state, r'^decoder_') and not has_key(state, _BEIT_CLUE)))

register_format(SourceFormat(
    'deit', 'DeiT: timm names with a distillation token',
    detect=lambda state: is_plain_vit(state) and has_key(
        state, r'^(dist_token$|head_dist\.)')))

register_format(SourceFormat(
    'beit', 'BEiT: q/v biases, layer scale and relative position tables',
    detect=lambda state: is_plain_vit(state) and has_key(
        state, _BEIT_CLUE) and not has_key(
            state, r'^(cls_pt_layers\.|reg_token$)|\.attn\.q_proj\.'),
    renames=LAYER_SCALE_RENAMES))

register_format(SourceFormat(
    'mocov3', 'MoCo v3: base encoder of a momentum-contrast model',
    detect=lambda state: has_key(state, r'^(module\.)?base_encoder\.'),
    backbone_prefix=r'(module\.)?base_encoder\.',
    outside_drops=(
        (r'(module\.)?momentum_encoder\.', 'momentum encoder'),
        (r'(module\.)?predictor\.', 'predictor (pre-training head)'),
    )))

register_format(SourceFormat(
    'mmpretrain', 'mmpretrain zoo: VisionTransformer or BEiTViT',
    detect=lambda state: has_key(state, r'^backbone\.layers\.\d+\.'),
    backbone_prefix=r'backbone\.',
    outside_drops=(
        (r'neck\.', 'pre-training neck (projector or decoder)'),
        (r'head\.', 'pre-training head'),
        (r'target_generator\.', 'target generator (tokenizer)'),
        (r'(momentum_encoder|target_encoder)\.', 'momentum encoder'),
        (r'data_preprocessor\.', 'data preprocessor'),
    ),
    drops=(
        (r'^cls_token$', 'cls token'),
        (r'^dist_token$', 'distillation token'),
        (r'^mask_token$', 'mask token'),
        (r'^ln[12]\.', 'final norm (detection takes block outputs)'),
        (r'relative_position_index$',
         'relative position index (a buffer the model rebuilds)'),
    ),
    renames=(
        (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
        (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
        (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
        (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
        (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
        # VisionTransformer's LayerScale modules, BEiTViT's parameters.
        (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
        (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
        (r'^layers\.(\d+)\.gamma_1$', r'blocks.\1.ls1.gamma'),
        (r'^layers\.(\d+)\.gamma_2$', r'blocks.\1.ls2.gamma'),
        (r'^layers\.(\d+)\.', r'blocks.\1.'),
    )))
