import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet_vit_transfer.analysis.complexity import (count_activations,
                                                    count_flops,
                                                    default_input_hw,
                                                    load_config)
from mmdet_vit_transfer.analysis.attention_cost import layout_kwargs
from mmdet_vit_transfer.models.backbones import PlainViTPyramid


class Attend(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_fused_attention_counts_as_its_two_products():
    q = torch.randn(2, 3, 10, 8)   # batch, heads, queries, dims
    k = torch.randn(2, 3, 20, 8)
    v = torch.randn(2, 3, 20, 5)
    flops = count_flops(Attend(), (q, k, v))
    # q @ k^T: 2*3*10*20*8; attn @ v: 2*3*10*20*5.
    assert flops.total() == 2 * 3 * 10 * 20 * (8 + 5)
    assert not flops.unsupported_ops()
    # Outputs of the two products: the attention map and the values.
    assert count_activations(Attend(), (q, k, v)).total() == 2 * 3 * 10 * (
        20 + 5)


@pytest.mark.parametrize('layout, attention', [
    # 4 blocks on an 8x8 grid; windows of 4x4 tokens.
    ('all global', 4 * 64 * 64 * 2 * 32),
    ('all windowed', 4 * 4 * 16 * 16 * 2 * 32),
])
def test_backbone_counts_by_hand(layout, attention):
    model = PlainViTPyramid(arch=dict(embed_dims=32, depth=4, num_heads=2),
                            img_size=128, pretrain_img_size=128,
                            **{**dict(window_size=4),
                               **layout_kwargs(layout, depth=4)})
    x = torch.randn(1, 3, 128, 128)
    ops = count_flops(model, (x, )).by_operator()
    tokens, dims = 64, 32
    # With grad, the learnable relative-position bias takes the package's
    # fused biased attention; without, PyTorch's kernel: same count.
    assert ops['PythonOp._BiasedAttention'] == attention
    with torch.no_grad():
        assert count_flops(model, (x, )).by_operator()[
            'scaled_dot_product_attention'] == attention
    assert ops['linear'] == 4 * 12 * tokens * dims**2
    assert ops['conv'] == tokens * dims * 3 * 16 * 16


def test_a_global_bias_served_by_query_rows_counts_the_same():
    # The 8x8 grid's bias (2 heads) is then an offset grid.
    model = PlainViTPyramid(arch=dict(embed_dims=32, depth=4, num_heads=2),
                            img_size=128, pretrain_img_size=128,
                            attn_backend=dict(type='cpu_fused',
                                              block_elements=2 * 64 * 64 - 1),
                            **layout_kwargs('all global', depth=4))
    x = torch.randn(1, 3, 128, 128)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            ops = count_flops(model, (x, )).by_operator()
        assert ops['PythonOp._GridBiasedAttention'] == 4 * 64 * 64 * 2 * 32


def test_input_size_comes_from_the_config():
    cfg = load_config('configs/toy_vit_tiny_maskrcnn.py')
    assert default_input_hw(cfg) == (256, 256)
    cfg.model.data_preprocessor.batch_augments = None
    with pytest.raises(ValueError, match='--shape'):
        default_input_hw(cfg)
    with pytest.raises(FileNotFoundError, match='no_such.py'):
        load_config('configs/no_such.py')
    r101 = load_config('mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py')
    assert r101.model.backbone.depth == 101
