import pytest
import torch

from mmdet_vit_transfer.models.necks import ViTSimpleAdapterNeck


def test_strides_4_8_16_32_and_channels_kept():
    neck = ViTSimpleAdapterNeck(in_channels=64)
    maps = [torch.randn(2, 64, 8, 12) for _ in range(4)]
    outs = neck(maps)
    assert [tuple(o.shape) for o in outs] == [(2, 64, 32, 48),
                                              (2, 64, 16, 24),
                                              (2, 64, 8, 12), (2, 64, 4, 6)]
    assert outs[2] is maps[2]


def test_each_adapter_reads_its_own_block():
    neck = ViTSimpleAdapterNeck(in_channels=32)
    maps = [torch.zeros(1, 32, 4, 4) for _ in range(4)]
    maps[3] = torch.ones(1, 32, 4, 4)
    outs = neck(maps)
    assert torch.equal(outs[3], torch.ones(1, 32, 2, 2))
    assert not outs[2].any()


def test_single_scale_feeds_every_adapter_from_the_last_map():
    neck = ViTSimpleAdapterNeck(in_channels=32, single_scale=True)
    maps = [torch.zeros(1, 32, 4, 4) for _ in range(3)] + \
        [torch.randn(1, 32, 4, 4)]
    outs = neck(maps)
    assert outs[2] is maps[3]
    assert torch.equal(outs[3], torch.nn.functional.max_pool2d(maps[3], 2))


def test_stride_4_adapter_is_deconv_gn_gelu_deconv():
    neck = ViTSimpleAdapterNeck(in_channels=64)
    kinds = [type(m).__name__ for m in neck.adapters[0]]
    assert kinds == ['ConvTranspose2d', 'GroupNorm', 'GELU', 'ConvTranspose2d']
    assert neck.adapters[0][1].num_groups == 32


def test_wrong_number_of_maps_is_named():
    neck = ViTSimpleAdapterNeck(in_channels=32)
    with pytest.raises(ValueError, match='expected 4 backbone maps, got 2'):
        neck([torch.zeros(1, 32, 4, 4)] * 2)
    with pytest.raises(ValueError, match='num_ins=3'):
        ViTSimpleAdapterNeck(in_channels=32, num_ins=3)
