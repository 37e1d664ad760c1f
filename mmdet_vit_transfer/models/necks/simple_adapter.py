"""Resolution adapters between a plain ViT and FPN (paper section 2.1)."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmdet.registry import MODELS

#: Output strides of the four adapters for a stride-16 backbone.
ADAPTER_STRIDES = (4, 8, 16, 32)


@MODELS.register_module()
class ViTSimpleAdapterNeck(BaseModule):
    """Turn four stride-16 ViT maps into a stride 4/8/16/32 pyramid.

    stride 4: ConvT(2x2, s2) -> norm -> GELU -> ConvT(2x2, s2);
    stride 8: ConvT(2x2, s2); stride 16: identity; stride 32: MaxPool(2x2, s2).
    Channels are kept; mmdet's ``FPN`` follows.

    Args:
        in_channels (int): channels of the backbone maps.
        num_ins (int): number of backbone maps (4).
        single_scale (bool): feed every adapter from the last map, like
            ViTDet's simple pyramid (the paper's ablation).
        norm_cfg (dict): norm between the two stride-4 deconvolutions.
        init_cfg (dict | list | None): weight init.
    """

    def __init__(self,
                 in_channels: int,
                 num_ins: int = 4,
                 single_scale: bool = False,
                 norm_cfg: dict = dict(type='GN', num_groups=32),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_ins != len(ADAPTER_STRIDES):
            raise ValueError(f'ViTSimpleAdapterNeck builds '
                             f'{len(ADAPTER_STRIDES)} adapters, got '
                             f'num_ins={num_ins}')
        self.num_ins = num_ins
        self.single_scale = single_scale
        C = in_channels
        self.adapters = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(C, C, 2, stride=2),
                build_norm_layer(norm_cfg, C)[1], nn.GELU(),
                nn.ConvTranspose2d(C, C, 2, stride=2)),
            nn.ConvTranspose2d(C, C, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(2, stride=2),
        ])

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Args: four ``(B, C, H, W)`` maps. Returns maps at 4x, 2x, 1x and
        0.5x their resolution."""
        if len(inputs) != self.num_ins:
            raise ValueError(f'expected {self.num_ins} backbone maps, got '
                             f'{len(inputs)}; check the backbone out_indices')
        if self.single_scale:
            inputs = [inputs[-1]] * self.num_ins
        return tuple(
            adapter(x) for adapter, x in zip(self.adapters, inputs))
