import torch

from mmdet_vit_transfer.engine.hooks import FlushDenormalHook


def test_denormals_become_zero_after_the_hook():
    denormal = torch.tensor([1e-39], dtype=torch.float32)
    try:
        torch.set_flush_denormal(False)
        assert (denormal * 1.0).item() != 0.0
        FlushDenormalHook().before_run(runner=None)
        assert (denormal * 1.0).item() == 0.0
    finally:
        torch.set_flush_denormal(False)
