import pytest
import torch


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _no_flush_denormal_leak():
    """Code under test may flush denormals (a process-wide CPU flag, e.g.
    the benchmarks' measuring functions); later tests get IEEE floats."""
    yield
    torch.set_flush_denormal(False)
