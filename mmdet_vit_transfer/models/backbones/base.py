"""What the plain ViT and the iTPN backbones share: the random init, the
pre-trained init through ``init_cfg``, the fitting of absolute position
embeddings on load, layer ids for layer-wise lr decay, frozen and partial
fine-tuning (``frozen_stages``) and the (checkpointed) block runner."""
import functools
from typing import Callable, Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from ...checkpoints import load_pretrained, pretrained_options
from ..layers.position import RELATIVE_POSITION_PARAMETERS
from ..layers.vit_geometry import fit_abs_pos_embed


def resolve_arch(arch: Union[str, dict], presets: Dict[str, dict],
                 keys: Sequence[str]) -> dict:
    """A preset of ``presets`` by name, or a dict with ``keys``; ValueError
    naming what is wrong."""
    if isinstance(arch, str):
        if arch not in presets:
            raise ValueError(f'arch must be one of {sorted(presets)} or a '
                             f'dict, got {arch!r}')
        return dict(presets[arch])
    missing = set(keys) - set(arch)
    if missing:
        raise ValueError(f'arch dict lacks {sorted(missing)}')
    return dict(arch)


#: ``frozen_stages`` that freezes the embeddings and every block.
FROZEN_ALL = 'all'


def count_frozen_blocks(frozen_stages: Union[int, str],
                        num_blocks: int) -> int:
    """The blocks that ``frozen_stages`` freezes: -1 (nothing, not even the
    embeddings), 0 (the embeddings only), ``k`` (the embeddings and blocks
    ``0..k-1``); ``'all'`` is ``num_blocks``. ValueError naming the valid
    values otherwise."""
    if frozen_stages == FROZEN_ALL:
        return num_blocks
    if (isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int)
            or not -1 <= frozen_stages <= num_blocks):
        raise ValueError(
            f'frozen_stages must be -1 (nothing frozen), 0 (the embeddings),'
            f' 1..{num_blocks} (the embeddings and that many blocks) or '
            f'{FROZEN_ALL!r}, got {frozen_stages!r}')
    return frozen_stages


def no_grad_when_fully_frozen(forward: Callable) -> Callable:
    """Decorates a backbone's forward (or its encoder's): under
    ``torch.no_grad()`` when every block is frozen, so that no graph is
    kept for the backbone; unchanged otherwise."""

    @functools.wraps(forward)
    def wrapped(self, *args, **kwargs):
        if self.fully_frozen:
            with torch.no_grad():
                return forward(self, *args, **kwargs)
        return forward(self, *args, **kwargs)

    return wrapped


class ViTBackboneBase(BaseModule):
    """Base of the backbones whose transformer blocks are ``self.blocks``.

    Subclasses set ``EMBEDDING_NAMES`` (parameter names of layer 0) and
    ``ABS_POS_NAME`` (the absolute position embedding), fit a checkpoint's
    state dict to themselves in :meth:`checkpoint_filter`, and call
    :meth:`freeze_stages` once their modules exist.

    Args:
        frozen_stages (int | str): what stays at its (pre-trained) values:
            -1 nothing; 0 the embeddings (layer 0 of :meth:`get_layer_depth`);
            ``k`` the embeddings and the first ``k`` blocks; ``'all'`` the
            embeddings and every block. Frozen parameters get no gradient
            (``requires_grad=False``), so the optimizer leaves them out, and
            the modules they make up stay in eval mode (no drop path).
        init_cfg (dict | None): see :meth:`init_weights`.
    """

    EMBEDDING_NAMES: Tuple[str, ...] = ('patch_embed.', )
    ABS_POS_NAME = ''

    def __init__(self, frozen_stages: Union[int, str] = -1, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.frozen_stages = frozen_stages
        self.num_frozen_blocks = -1
        self.register_load_state_dict_pre_hook(_fit_abs_pos_embed)

    def freeze_stages(self) -> None:
        """Stop the gradient of every parameter :meth:`is_frozen` names and
        put the frozen modules in eval mode."""
        self.num_frozen_blocks = count_frozen_blocks(self.frozen_stages,
                                                     len(self.blocks))
        for name, param in self.named_parameters():
            if self.is_frozen(name):
                param.requires_grad_(False)
        self.train(self.training)

    def is_frozen(self, param_name: str) -> bool:
        """Whether ``frozen_stages`` freezes a parameter of this backbone
        (its local name): the embeddings and the first blocks, by their
        layer ids; never the top layer (pyramids, shared tables: see the
        subclasses)."""
        layer_id, num_layers = self.get_layer_depth(param_name, prefix='')
        return layer_id <= self.num_frozen_blocks and \
            layer_id < num_layers - 1

    @property
    def fully_frozen(self) -> bool:
        """Whether every block is frozen."""
        return self.num_frozen_blocks == len(self.blocks)

    def train(self, mode: bool = True) -> 'ViTBackboneBase':
        """Set the training mode, except that a module whose parameters are
        all frozen stays in eval mode (frozen blocks get no drop path; a
        fully frozen backbone runs as at inference)."""
        super().train(mode)
        if not mode:
            return self
        frozen = {
            id(p)
            for name, p in self.named_parameters() if self.is_frozen(name)
        }
        for module in self.modules():
            params = list(module.parameters())
            if params and all(id(p) in frozen for p in params):
                nn.Module.train(module, False)  # not this override again
        return self

    def init_weights(self) -> None:
        """Random init (:meth:`random_init`), then the pre-trained weights of
        ``init_cfg=dict(type='Pretrained', checkpoint=..., [format,
        abs_pos_init, rel_pos_init])`` (see
        :func:`mmdet_vit_transfer.checkpoints.load_pretrained`)."""
        self.random_init()
        if self.init_cfg is None:
            return
        if self.init_cfg.get('type') != 'Pretrained':
            super().init_weights()
            return
        load_pretrained(self, **pretrained_options(self.init_cfg))
        self._is_init = True

    def random_init(self) -> None:
        """Linear layers: truncated normal (std 0.02) and zero bias; norm
        layers: ones and zeros; the absolute position embedding: truncated
        normal (std 0.02); relative positions: zero."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name == self.ABS_POS_NAME:
                trunc_normal_(p, std=0.02)
            elif name.endswith(RELATIVE_POSITION_PARAMETERS):
                nn.init.zeros_(p)

    def checkpoint_filter(self, state: dict, report, **options) -> dict:
        """Fit a converted checkpoint to this model (timm's
        ``checkpoint_filter_fn``); see the subclasses."""
        raise NotImplementedError

    def run_block(self, block: nn.Module, x: torch.Tensor,
                  *args) -> torch.Tensor:
        """``block(x, *args)``, with activation checkpointing when
        ``with_cp`` and the block builds a graph: its input or its
        parameters need a gradient (the first block after a frozen part
        has no such input)."""
        builds_graph = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad
                                   for p in block.parameters()))
        if self.with_cp and builds_graph:
            return cp.checkpoint(block, x, *args, use_reentrant=False)
        return block(x, *args)

    def get_layer_depth(self, param_name: str,
                        prefix: str = 'backbone.') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise lr decay.

        The embeddings (``EMBEDDING_NAMES``) are layer 0, ``blocks.{i}`` is
        layer ``i + 1``; everything else (shared relative tables as in BEiT,
        necks, pyramids, heads) is the top, ``len(blocks) + 1``.

        Args:
            param_name (str): parameter name in the detector.
            prefix (str): prefix of this backbone's parameters.

        Returns:
            tuple: ``(layer_id, num_layers)`` with
            ``num_layers = len(blocks) + 2``.
        """
        num_layers = len(self.blocks) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(self.EMBEDDING_NAMES):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers


def _fit_abs_pos_embed(model: ViTBackboneBase, state_dict: dict, prefix: str,
                       *args) -> None:
    """Load pre-hook: an absolute position embedding of another grid or
    published layout (CLIP's ``(N, C)``, SAM's ``(1, H, W, C)``, with or
    without token slots) is fitted to the model's stored shape, for every
    loader (pre-trained init, detector hand-off, ``load_state_dict``)."""
    key = prefix + model.ABS_POS_NAME
    stored = getattr(model, model.ABS_POS_NAME, None)
    if (stored is not None and key in state_dict
            and state_dict[key].shape != stored.shape):
        state_dict[key] = fit_abs_pos_embed(state_dict[key], stored.shape)
