"""The fused CPU RoIAlign against mmcv's kernel: same values and gradients
for every sampling mode, alignment and pyramid level, and the extractor
against mmdet's SingleRoIExtractor."""
import pytest
import torch
from mmcv.ops import roi_align as mmcv_roi_align
from mmdet.registry import MODELS

from mmdet_vit_transfer.models.layers.roi_align import (
    csr_transpose, linear_interpolation_taps, multilevel_roi_align,
    sampling_grid_sizes)

STRIDES = (4, 8, 16, 32)


def random_rois(n, num_images, image_hw, generator):
    """Boxes of all sizes, some past the image border, a few empty."""
    h, w = image_hw
    xy = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    xy = xy * torch.tensor([w * 1.2, h * 1.2], dtype=torch.float64) - 20
    wh = torch.rand(n, 2, generator=generator, dtype=torch.float64) * 150
    wh[:3] = 0
    wh[3] = torch.tensor([0.0, 30.0])
    batch = torch.randint(0, num_images, (n, 1), generator=generator)
    return torch.cat([batch.double(), xy, xy + wh], dim=1)


@pytest.mark.parametrize('sampling_ratio', [0, 1, 2])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('output_size', [(7, 7), (14, 14), (5, 3)])
def test_matches_mmcv_values_and_gradients(sampling_ratio, aligned,
                                           output_size):
    gen = torch.Generator().manual_seed(0)
    image_hw = (96, 128)
    feats = [
        torch.randn(2, 5, image_hw[0] // s, image_hw[1] // s,
                    generator=gen, dtype=torch.float64, requires_grad=True)
        for s in STRIDES
    ]
    rois = random_rois(80, 2, image_hw, gen)
    levels = torch.randint(0, len(STRIDES), (80, ), generator=gen)
    scales = [1 / s for s in STRIDES]
    expected = torch.zeros(80, 5, *output_size, dtype=torch.float64)
    for level, feat in enumerate(feats):
        chosen = levels == level
        expected[chosen] = mmcv_roi_align(feat, rois[chosen], output_size,
                                          scales[level], sampling_ratio,
                                          'avg', aligned)
    pooled = multilevel_roi_align(feats, rois, levels, scales, output_size,
                                  sampling_ratio, aligned)
    torch.testing.assert_close(pooled, expected, rtol=0, atol=1e-12)

    upstream = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    want = torch.autograd.grad(expected, feats, upstream)
    got = torch.autograd.grad(pooled, feats, upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def test_no_rois_and_unused_levels():
    feats = [torch.randn(1, 3, 8, 8, requires_grad=True),
             torch.randn(1, 3, 4, 4, requires_grad=True)]
    empty = multilevel_roi_align(feats, torch.zeros(0, 5),
                                 torch.zeros(0, dtype=torch.long),
                                 [1.0, 0.5], (7, 7), 2)
    assert empty.shape == (0, 3, 7, 7)
    rois = torch.tensor([[0.0, 1.0, 1.0, 5.0, 5.0]])
    pooled = multilevel_roi_align(feats, rois, torch.tensor([0]),
                                  [1.0, 0.5], (2, 2), 2)
    pooled.sum().backward()
    # The level no RoI uses is in the graph, with a zero gradient.
    assert feats[1].grad is not None and not feats[1].grad.any()


def test_negative_boxes_are_refused():
    feats = [torch.randn(1, 3, 8, 8)]
    rois = torch.tensor([[0.0, 5.0, 1.0, 1.0, 5.0]])
    with pytest.raises(ValueError, match='negative width'):
        multilevel_roi_align(feats, rois, torch.tensor([0]), [1.0], (2, 2), 2)


def test_sampling_grid_sizes_follow_mmcv():
    heights = torch.tensor([0.0, 6.9, 7.0, 7.1, 30.0])
    widths = torch.tensor([14.0, 0.5, 0.0, 70.0, 1.0])
    assert sampling_grid_sizes(heights, widths, (7, 7), 2).tolist() == \
        [[2, 2]] * 5
    assert sampling_grid_sizes(heights, widths, (7, 7), 0).tolist() == \
        [[0, 2], [1, 1], [1, 0], [2, 10], [5, 1]]


def test_interpolation_taps_border_rules():
    coords = torch.tensor([[-1.5, -1.0, -0.5, 0.0, 2.25, 3.0, 3.5, 4.0, 4.5]])
    low, high, w_low, w_high = linear_interpolation_taps(
        coords, torch.tensor([4]))
    # Outside [-1, size]: no weight. [-1, 0]: clamped to pixel 0.
    # [size - 1, size]: clamped to the last pixel.
    assert low.tolist() == [[0, 0, 0, 0, 2, 3, 3, 3, 3]]
    assert high.tolist() == [[1, 1, 1, 1, 3, 3, 3, 3, 3]]
    assert w_low.tolist() == [[0, 1, 1, 1, 0.75, 1, 1, 1, 0]]
    assert w_high.tolist() == [[0, 0, 0, 0, 0.25, 0, 0, 0, 0]]


def test_csr_transpose():
    gen = torch.Generator().manual_seed(1)
    dense = torch.randn(6, 9, generator=gen)
    dense[dense.abs() < 0.8] = 0
    dense[2] = 0
    transposed = csr_transpose(dense.to_sparse_csr())
    torch.testing.assert_close(transposed.to_dense(), dense.t())


def _extractor(type_, sampling_ratio):
    return MODELS.build(
        dict(
            type=type_,
            roi_layer=dict(
                type='RoIAlign', output_size=7,
                sampling_ratio=sampling_ratio),
            out_channels=4,
            featmap_strides=list(STRIDES)))


@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('roi_scale_factor', [None, 1.5])
def test_extractor_matches_mmdet(sampling_ratio, roi_scale_factor):
    import mmdet_vit_transfer  # noqa: F401
    gen = torch.Generator().manual_seed(2)
    feats = tuple(
        torch.randn(2, 4, 256 // s, 320 // s, generator=gen)
        for s in STRIDES)
    rois = random_rois(120, 2, (256, 320), gen).float()
    fused = _extractor('FusedRoIExtractor', sampling_ratio)
    stock = _extractor('SingleRoIExtractor', sampling_ratio)
    torch.testing.assert_close(
        fused(feats, rois, roi_scale_factor),
        stock(feats, rois, roi_scale_factor),
        rtol=1e-5, atol=1e-5)
    # bfloat16 features come back as bfloat16.
    half = fused(tuple(f.bfloat16() for f in feats), rois.bfloat16())
    assert half.dtype == torch.bfloat16


def test_extractor_in_the_paper_configs():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/_base_/models/mask_rcnn_plain_vit_b.py')
    for key in ('bbox_roi_extractor', 'mask_roi_extractor'):
        assert cfg.model.roi_head[key].type == 'FusedRoIExtractor'
