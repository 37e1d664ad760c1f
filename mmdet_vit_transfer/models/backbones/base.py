"""What the plain ViT and the iTPN backbones share: the random init, the
pre-trained init through ``init_cfg``, layer ids for layer-wise lr decay and
the (checkpointed) block runner."""
from typing import Dict, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from ...checkpoints import load_pretrained, pretrained_options

#: Parameters that start at zero: relative-position tables and ViTDet's
#: decomposed relative positions.
RELATIVE_POSITION_NAMES = ('relative_position_bias_table', 'rel_pos_h',
                           'rel_pos_w')


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


class ViTBackboneBase(BaseModule):
    """Base of the backbones whose transformer blocks are ``self.blocks``.

    Subclasses set ``EMBEDDING_NAMES`` (parameter names of layer 0) and
    ``ABS_POS_NAME`` (the absolute position embedding), and fit a
    checkpoint's state dict to themselves in :meth:`checkpoint_filter`.
    """

    EMBEDDING_NAMES: Tuple[str, ...] = ('patch_embed.', )
    ABS_POS_NAME = ''

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
            elif name.endswith(RELATIVE_POSITION_NAMES):
                nn.init.zeros_(p)

    def checkpoint_filter(self, state: dict, report, **options) -> dict:
        """Fit a converted checkpoint to this model (timm's
        ``checkpoint_filter_fn``); see the subclasses."""
        raise NotImplementedError

    def run_block(self, block: nn.Module, x: torch.Tensor,
                  *args) -> torch.Tensor:
        """``block(x, *args)``, with activation checkpointing when
        ``with_cp`` and training."""
        if self.with_cp and x.requires_grad:
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
