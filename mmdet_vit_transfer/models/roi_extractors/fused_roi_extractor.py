"""mmdet's single-level RoI extractor with all levels pooled in one product
on the CPU (see :mod:`mmdet_vit_transfer.models.layers.roi_align`)."""
from typing import Optional, Tuple

import torch
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.registry import MODELS
from mmcv.ops import RoIAlign

from ..layers.roi_align import multilevel_roi_align


@MODELS.register_module()
class FusedRoIExtractor(SingleRoIExtractor):
    """``SingleRoIExtractor`` (same arguments, levels and outputs) whose CPU
    path pools the RoIs of every level at once with a sparse matrix product
    instead of mmcv's single-threaded kernel, one call per level.

    Other devices, ``pool_mode='max'`` and layers other than mmcv's
    ``RoIAlign`` take mmdet's path unchanged.
    """

    def _fused_path(self, feats: Tuple[torch.Tensor, ...]) -> bool:
        layer = self.roi_layers[0]
        return (feats[0].device.type == 'cpu'
                and type(layer) is RoIAlign and layer.pool_mode == 'avg'
                and not layer.use_torchvision)

    def forward(self,
                feats: Tuple[torch.Tensor, ...],
                rois: torch.Tensor,
                roi_scale_factor: Optional[float] = None) -> torch.Tensor:
        """Pooled features ``(n, C, out_h, out_w)`` of each RoI on its
        level, as :meth:`SingleRoIExtractor.forward`."""
        if not self._fused_path(feats):
            return super().forward(feats, rois, roi_scale_factor)
        num_levels = len(feats)
        if num_levels == 1:
            levels = rois.new_zeros(len(rois), dtype=torch.long)
        else:
            levels = self.map_roi_levels(rois, num_levels)
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        layer = self.roi_layers[0]
        dtype = feats[0].dtype
        if dtype not in (torch.float32, torch.float64):
            # MKL's sparse products take float32 / float64 only.
            feats = [f.float() for f in feats]
        # Every level enters the product, so each is in the graph even when
        # no RoI maps to it (mmdet adds zero-weighted sums for DDP's sake).
        pooled = multilevel_roi_align(
            feats, rois, levels,
            [l.spatial_scale for l in self.roi_layers[:num_levels]],
            layer.output_size, layer.sampling_ratio, layer.aligned)
        return pooled.to(dtype)
