"""Small float64 models of today's pre-trained ViT families, built with each
family's own code (timm, open_clip, segment_anything) with random weights,
and writers of their checkpoints in the layouts the authors publish.

Each reference gives the patch tokens after every block, ``(B, C, h, w)``,
as a detection backbone sees them: the prefix tokens (cls, registers) that
detection drops are hidden from the patch queries by the attention mask
(timm's and open_clip's blocks take one), or, for BEiT v2, whose timm
blocks take none, by a -1e4 token->cls row of its relative table (its
exponential is 0 in float64).

Layouts written (docs/checkpoints.md has the sources):

- DINOv2 hub ``dinov2_vit*14[_reg4]_pretrain.pth``: timm names,
  ``cls_token``, ``pos_embed`` with a cls slot, ``mask_token`` ``(1, C)``,
  ``register_tokens``, ``ls1/ls2.gamma``, ``norm``.
- DeiT III ``deit_3_*.pth``: ``{'model': ...}``, ``gamma_1/gamma_2``,
  ``pos_embed`` without cls slot, ``cls_token``, ``norm``, ``head``.
- BEiT v2 pre-training: ``{'model': ...}`` with BEiT's names, a shared
  ``rel_pos_bias`` table, ``cls_pt_layers``, ``lm_head``, ``mask_token``.
- OpenAI CLIP: a TorchScript archive of the whole CLIP model (image and
  text towers) with its three model constants; OpenCLIP: the same names
  as a state dict (``.bin`` or ``.safetensors``).
- SigLIP: timm's ViT with a MAP head; in open_clip, under ``visual.trunk.``
  next to a text tower.
- SAM ``sam_vit_*.pth``: ``image_encoder.`` (``mlp.lin1/lin2``, ``neck``),
  ``prompt_encoder.``, ``mask_decoder.``.
- timm's layout of each: its ``state_dict()``.
"""
import re
from functools import partial

import open_clip
import timm
import torch
import torch.nn as nn
from segment_anything.modeling import ImageEncoderViT

EMBED_DIMS, NUM_HEADS, DEPTH = 64, 4, 4
TINY = dict(embed_dims=EMBED_DIMS, depth=DEPTH, num_heads=NUM_HEADS)


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter random and far from its init (norm weights near 1),
    in float64, so that a wrong mapping of any shows in the output."""
    gen = torch.Generator().manual_seed(seed)
    model.double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if re.search(r'(norm\d?|ln_\w+|ln\d)\.weight$', name):
                p.copy_(1 + 0.2 * noise)
            elif re.search(r'gamma', name):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen,
                                         dtype=p.dtype))
            else:
                p.copy_(0.1 * noise)
    return model.eval()


def prefix_mask(num_prefix: int, num_patches: int) -> torch.Tensor:
    """``(N, N)`` additive mask hiding the prefix keys from patch queries."""
    n = num_prefix + num_patches
    mask = torch.zeros(n, n, dtype=torch.float64)
    mask[num_prefix:, :num_prefix] = float('-inf')
    return mask


# --- timm's VisionTransformer: DINOv2, DeiT III, SigLIP ---------------------

def timm_vit(family: str, img_size: int, seed: int = 1,
             size: dict = TINY) -> nn.Module:
    """timm's ViT as the family's timm entry builds it (``vit_*_dinov2``,
    ``deit3_*``, ``vit_*_siglip_*``), of ``size`` (``embed_dims``,
    ``depth``, ``num_heads``); SigLIP with GELU-tanh, as big_vision."""
    settings = {
        'dinov2': dict(patch_size=14, init_values=1e-5),
        'dinov2_reg': dict(patch_size=14, init_values=1e-5, reg_tokens=4,
                           no_embed_class=True),
        'deit3': dict(patch_size=16, init_values=1e-6, no_embed_class=True),
        'siglip': dict(patch_size=16, class_token=False, global_pool='map',
                       act_layer='gelu_tanh'),
    }[family]
    model = timm.models.VisionTransformer(
        img_size=img_size, embed_dim=size['embed_dims'], depth=size['depth'],
        num_heads=size['num_heads'], num_classes=10, **settings)
    return randomize(model, seed)


def timm_vit_features(model, x):
    """Patch tokens after each block of a timm ViT, prefix tokens hidden."""
    num_patches = (x.shape[2] // model.patch_embed.patch_size[0])**2
    mask = None
    if model.num_prefix_tokens:
        mask = prefix_mask(model.num_prefix_tokens, num_patches)
    return model.forward_intermediates(
        x, indices=list(range(DEPTH)), norm=False, output_fmt='NCHW',
        intermediates_only=True, attn_mask=mask)


def dinov2_hub_checkpoint(ref) -> dict:
    """``dinov2_vit*14[_reg4]_pretrain.pth``: a bare state dict."""
    state = {k: v.clone() for k, v in ref.state_dict().items()
             if not k.startswith('head.')}
    if 'reg_token' in state:
        state['register_tokens'] = state.pop('reg_token')
        # The hub keeps the cls slot in pos_embed; timm folds it into the
        # cls token.
        state['pos_embed'] = torch.cat(
            [torch.randn(1, 1, ref.embed_dim, dtype=torch.float64),
             state['pos_embed']], dim=1)
    state['mask_token'] = torch.randn(1, ref.embed_dim, dtype=torch.float64)
    return state


def deit3_checkpoint(ref) -> dict:
    """facebookresearch/deit ``models_v2.py``'s names."""
    state = {re.sub(r'\.ls([12])\.gamma$', r'.gamma_\1', k): v.clone()
             for k, v in ref.state_dict().items()}
    return {'model': state}


def siglip_open_clip_checkpoint(ref) -> dict:
    """open_clip's SigLIP: the timm tower under ``visual.trunk.``."""
    state = {f'visual.trunk.{k}': v.clone()
             for k, v in ref.state_dict().items() if not k.startswith('head')}
    state['text.token_embedding.weight'] = torch.randn(100, EMBED_DIMS)
    state['text.transformer.resblocks.0.attn.in_proj_weight'] = torch.randn(
        3 * EMBED_DIMS, EMBED_DIMS)
    state['logit_scale'] = torch.tensor(2.3)
    state['logit_bias'] = torch.tensor(-10.0)
    return state


def timm_layout(ref) -> dict:
    """timm's own layout of a model: its state dict."""
    return {k: v.clone() for k, v in ref.state_dict().items()}


# --- timm's Beit: BEiT v2 ---------------------------------------------------

def beitv2(img_size: int, seed: int = 2) -> nn.Module:
    """BEiT v2's pre-training backbone (timm's Beit: q/v biases, layer
    scale, one shared relative table, no absolute embedding); its
    token->cls table row at -1e4 hides the cls key from patch queries."""
    model = timm.models.beit.Beit(
        img_size=img_size, patch_size=16, embed_dim=EMBED_DIMS, depth=DEPTH,
        num_heads=NUM_HEADS, num_classes=10, use_abs_pos_emb=False,
        use_shared_rel_pos_bias=True, init_values=0.1)
    model = randomize(model, seed)
    with torch.no_grad():
        model.rel_pos_bias.relative_position_bias_table[-2] = -1e4
    return model


def beitv2_features(model, x):
    return model.forward_intermediates(
        x, indices=list(range(DEPTH)), norm=False, output_fmt='NCHW',
        intermediates_only=True)


def beitv2_checkpoint(ref) -> dict:
    """microsoft/unilm beit2 pre-training checkpoint."""
    state = {k: v.clone() for k, v in ref.state_dict().items()
             if not k.startswith(('head.', 'fc_norm.'))}
    # A persistent buffer in unilm's model, not in timm's.
    state['rel_pos_bias.relative_position_index'] = \
        ref.rel_pos_bias.relative_position_index.clone()
    state['mask_token'] = torch.randn(1, 1, EMBED_DIMS, dtype=torch.float64)
    state['norm.weight'] = torch.randn(EMBED_DIMS, dtype=torch.float64)
    state['norm.bias'] = torch.randn(EMBED_DIMS, dtype=torch.float64)
    for name in ('norm1.weight', 'attn.qkv.weight', 'gamma_1'):
        shape = state[f'blocks.0.{name}'].shape
        state[f'cls_pt_layers.0.{name}'] = torch.randn(shape)
    state['lm_head.weight'] = torch.randn(128, EMBED_DIMS)
    return {'model': state}


# --- open_clip: CLIP --------------------------------------------------------

def clip(img_size: int, quick_gelu: bool, seed: int = 3,
         size: dict = TINY) -> nn.Module:
    """A whole CLIP model (image and text towers) by open_clip, with
    OpenAI's names, its image tower of ``size``; OpenAI's models use
    QuickGELU."""
    model = open_clip.model.CLIP(
        embed_dim=32,
        vision_cfg=open_clip.model.CLIPVisionCfg(
            layers=size['depth'], width=size['embed_dims'],
            head_width=size['embed_dims'] // size['num_heads'],
            patch_size=16, image_size=img_size),
        text_cfg=open_clip.model.CLIPTextCfg(
            context_length=8, vocab_size=100, width=32, heads=2, layers=1),
        quick_gelu=quick_gelu)
    return randomize(model, seed)


def clip_features(model, x):
    """Patch tokens after each block of CLIP's image tower, the cls token
    hidden from patch queries."""
    visual = model.visual
    tokens = visual._embeds(x)
    mask = prefix_mask(1, tokens.shape[1] - 1)
    outs = []
    h = x.shape[2] // visual.patch_size[0]
    for block in visual.transformer.resblocks:
        tokens = block(tokens, attn_mask=mask)
        outs.append(tokens[:, 1:].reshape(x.shape[0], h, h, -1).permute(
            0, 3, 1, 2))
    return outs


class _OpenAIArchive(nn.Module):
    """The modules and parameters of a CLIP model under their names, and
    the three model constants OpenAI's archives hold as tensors."""

    def __init__(self, model):
        super().__init__()
        for name, child in model.named_children():
            self.add_module(name, child)
        for name, param in model.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, value in (('input_resolution', 224), ('context_length', 8),
                            ('vocab_size', 100)):
            self.register_buffer(name, torch.tensor(value))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def openai_clip_archive(ref, path) -> None:
    """OpenAI's release: a TorchScript archive of the whole model (image
    and text towers), whose state dict also holds ``input_resolution``,
    ``context_length`` and ``vocab_size``."""
    torch.jit.save(torch.jit.script(_OpenAIArchive(ref)), str(path))


def open_clip_state(ref) -> dict:
    """OpenCLIP's ``open_clip_pytorch_model.bin`` / ``.safetensors``."""
    return {k: v.clone().contiguous() for k, v in ref.state_dict().items()}


# --- segment_anything: SAM --------------------------------------------------

def sam_encoder(img_size: int, window_size: int, global_attn_indexes,
                seed: int = 4, size: dict = TINY) -> ImageEncoderViT:
    """SAM's image encoder (segment_anything) of ``size``, with its windows
    and global blocks."""
    model = ImageEncoderViT(
        img_size=img_size, patch_size=16, embed_dim=size['embed_dims'],
        depth=size['depth'], num_heads=size['num_heads'], out_chans=32,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), use_abs_pos=True,
        use_rel_pos=True, rel_pos_zero_init=False, window_size=window_size,
        global_attn_indexes=tuple(global_attn_indexes))
    return randomize(model, seed)


def sam_features(model, x):
    """Output of every block (SAM's blocks work on ``(B, H, W, C)``)."""
    outs = []
    hooks = [block.register_forward_hook(
        lambda module, args, out: outs.append(out.permute(0, 3, 1, 2)))
        for block in model.blocks]
    model(x)
    for hook in hooks:
        hook.remove()
    return outs


def sam_checkpoint(ref) -> dict:
    """``sam_vit_*.pth``: the whole SAM's state dict."""
    state = {f'image_encoder.{k}': v.clone()
             for k, v in ref.state_dict().items()}
    state['prompt_encoder.point_embeddings.0.weight'] = torch.randn(1, 32)
    state['mask_decoder.iou_token.weight'] = torch.randn(1, 32)
    return state


def sam_timm_layout(ref) -> dict:
    """timm's ``samvit_*`` names: the encoder's, ``mlp.fc1/fc2``."""
    return {k.replace('mlp.lin', 'mlp.fc'): v.clone()
            for k, v in ref.state_dict().items()}


# --- timm's Eva: EVA-02, DINOv3 ---------------------------------------------

def eva02(img_size: int, seed: int = 5) -> nn.Module:
    """EVA-02 as timm's ``eva02_*_patch14_224`` builds it (separate q/k/v,
    SwiGLU with its norm, EVA's rotary positions referred to the
    pre-training grid), tiny."""
    grid = img_size // 14
    model = timm.models.eva.Eva(
        img_size=img_size, patch_size=14, embed_dim=EMBED_DIMS, depth=DEPTH,
        num_heads=NUM_HEADS, num_classes=10, qkv_fused=False,
        mlp_ratio=4 * 2 / 3, swiglu_mlp=True, scale_mlp=True,
        use_rot_pos_emb=True, ref_feat_shape=(grid, grid))
    return randomize(model, seed)


def dinov3(img_size: int, seed: int = 6, swiglu: bool = False) -> nn.Module:
    """DINOv3 as timm's ``vit_*_patch16_dinov3`` builds it (rotary positions
    with the base of 100, four storage tokens, layer scale, LN eps 1e-5; S+/
    L+/H+: SwiGLU), with q / v biases as the hub's models, tiny."""
    model = timm.models.eva.Eva(
        img_size=img_size, patch_size=16, embed_dim=EMBED_DIMS, depth=DEPTH,
        num_heads=NUM_HEADS, num_classes=10, qkv_bias=True, init_values=1e-5,
        rope_type='dinov3', rope_temperature=100, rope_rotate_half=True,
        use_rot_pos_emb=True, use_abs_pos_emb=False, num_reg_tokens=4,
        use_fc_norm=False, swiglu_mlp=swiglu, swiglu_align_to=8 * swiglu,
        norm_layer=partial(nn.LayerNorm, eps=1e-5))
    return randomize(model, seed)


def eva_features(model, x):
    """Patch tokens after each block of a timm Eva, prefix tokens hidden
    from the patch queries."""
    num_patches = (x.shape[2] // model.patch_embed.patch_size[0])**2
    return model.forward_intermediates(
        x, indices=list(range(DEPTH)), norm=False, output_fmt='NCHW',
        intermediates_only=True,
        attn_mask=prefix_mask(model.num_prefix_tokens, num_patches))


def eva02_checkpoint(ref) -> dict:
    """EVA-02's MIM ``.pt``: ``{'module': ...}`` with its names."""
    renames = (('.attn.q_proj.bias', '.attn.q_bias'),
               ('.attn.v_proj.bias', '.attn.v_bias'),
               ('.mlp.fc1_g.', '.mlp.w1.'), ('.mlp.fc1_x.', '.mlp.w2.'),
               ('.mlp.norm.', '.mlp.ffn_ln.'), ('.mlp.fc2.', '.mlp.w3.'))
    state = {}
    for key, value in ref.state_dict().items():
        if key.startswith('head.'):
            continue
        for old, new in renames:
            key = key.replace(old, new)
        state[key.replace('fc_norm.', 'norm.')] = value.clone()
    state['mask_token'] = torch.randn(1, 1, EMBED_DIMS, dtype=torch.float64)
    state['lm_head.weight'] = torch.randn(64, EMBED_DIMS)
    return {'module': state}


def dinov3_hub_checkpoint(ref) -> dict:
    """``dinov3_vit*16_pretrain_*.pth``: DINOv3's names, a random k bias
    that its ``bias_mask`` zeroes, and the rotary periods."""
    swiglu = any('fc1_g' in key for key in ref.state_dict())
    renames = ((r'^reg_token$', 'storage_tokens'),
               (r'\.gamma_([12])$', r'.ls\1.gamma'),
               (r'\.mlp\.fc1_g\.', '.mlp.w1.'), (r'\.mlp\.fc1_x\.', '.mlp.w2.'),
               *(((r'\.mlp\.fc2\.', '.mlp.w3.'), ) if swiglu else ()))
    state = {}
    for key, value in ref.state_dict().items():
        if key.startswith('head.'):
            continue
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        state[key] = value.clone()
    for i in range(DEPTH):
        attn = f'blocks.{i}.attn.'
        q, v = state.pop(attn + 'q_bias'), state.pop(attn + 'v_bias')
        state[attn + 'qkv.bias'] = torch.cat([q, torch.randn_like(q), v])
        state[attn + 'qkv.bias_mask'] = torch.cat(
            [torch.ones_like(q), torch.zeros_like(q), torch.ones_like(v)])
    state['rope_embed.periods'] = ref.rope.periods.float().clone()
    state['mask_token'] = torch.randn(1, EMBED_DIMS, dtype=torch.float64)
    return state


def windowed_eva_features(model, x, window: int, rope):
    """timm Eva's blocks applied to each ``window`` x ``window`` window of
    the patch tokens separately, with the rotary table ``rope`` (made for a
    window), no prefix tokens: the windowed layout's reference."""
    tokens = model.patch_embed(x)  # (B, N, C)
    if model.pos_embed is not None:
        tokens = tokens + model.pos_embed[:, model.num_prefix_tokens:]
    B, N, C = tokens.shape
    H = W = int(N**0.5)
    outs = []
    for block in model.blocks:
        block.attn.num_prefix_tokens = 0
        # (B, H/w, w, W/w, w, C) -> (B * windows, w * w, C)
        windows = tokens.view(B, H // window, window, W // window, window,
                              C).transpose(2, 3).reshape(-1, window**2, C)
        windows = block(windows, rope=rope)
        tokens = windows.view(B, H // window, W // window, window, window,
                              C).transpose(2, 3).reshape(B, N, C)
        outs.append(tokens.reshape(B, H, W, C).permute(0, 3, 1, 2))
    return outs


def timm_giant_like(img_size: int, seed: int = 7) -> nn.Module:
    """DINOv2-g's blocks as timm's ``vit_giant_patch14_dinov2`` builds them
    (SwiGLU with packed gate and value, SiLU), tiny."""
    model = timm.models.VisionTransformer(
        img_size=img_size, patch_size=14, embed_dim=EMBED_DIMS, depth=DEPTH,
        num_heads=NUM_HEADS, num_classes=10, init_values=1e-5, mlp_ratio=4.0,
        mlp_layer=timm.layers.SwiGLUPacked, act_layer=nn.SiLU)
    return randomize(model, seed)


def dinov2_giant_hub_checkpoint(ref) -> dict:
    """``dinov2_vitg14_pretrain.pth``: DINOv2's names, ``mlp.w12 / w3``."""
    state = dinov2_hub_checkpoint(ref)
    return {key.replace('.mlp.fc1.', '.mlp.w12.').replace('.mlp.fc2.',
                                                          '.mlp.w3.'): value
            for key, value in state.items()}
