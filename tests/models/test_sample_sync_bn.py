import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmdet_vit_transfer.models.layers import SampleSyncBatchNorm2d


def test_single_process_equals_batchnorm():
    x = torch.randn(6, 4, 3, 3)
    ours, ref = SampleSyncBatchNorm2d(4), torch.nn.BatchNorm2d(4)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)
    assert torch.allclose(ours.running_var, ref.running_var)


def test_empty_batch_trains_and_keeps_statistics():
    bn = SampleSyncBatchNorm2d(4)
    x = torch.zeros(0, 4, 7, 7, requires_grad=True)
    out = bn(x)
    assert out.shape == (0, 4, 7, 7)
    out.sum().backward()
    assert bn.weight.grad is not None
    assert not bn.running_mean.any() and bn.num_batches_tracked == 0


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, port, inputs, queue):
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=2)
    torch.manual_seed(0)
    bn = SampleSyncBatchNorm2d(3)
    x = inputs[rank].clone().requires_grad_()
    out = bn(x)
    (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    # numpy arrays: tensors would be shared through this process's memory,
    # which is gone once it exits.
    queue.put((rank, *(t.detach().numpy().copy() for t in (
        out, x.grad, bn.weight.grad, bn.running_mean, bn.running_var))))
    dist.destroy_process_group()


@pytest.mark.parametrize('sizes', [(5, 2), (4, 0)])
def test_two_processes_weight_by_sample_count(sizes):
    """Two gloo processes with 5+2 (or 4+0) RoIs normalise exactly like one
    BatchNorm over all 7 (or 4): statistics weighted by sample count."""
    torch.manual_seed(1)
    inputs = [torch.randn(n, 3, 2, 2) * 3 + 1 for n in sizes]
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    port = _free_port()
    procs = [
        ctx.Process(target=_worker, args=(r, port, inputs, queue))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        rank, *arrays = queue.get(timeout=120)
        results[rank] = [torch.from_numpy(a) for a in arrays]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    ref = torch.nn.BatchNorm2d(3)
    x = torch.cat(inputs).requires_grad_()
    out = ref(x)
    (out * torch.cat([
        torch.arange(inputs[r].numel()).view_as(inputs[r]) for r in range(2)
    ])).sum().backward()
    expected_out = out.detach().split(list(sizes))
    expected_grad = x.grad.split(list(sizes))
    for rank in range(2):
        got_out, got_grad, w_grad, r_mean, r_var = results[rank]
        assert torch.allclose(got_out, expected_out[rank], atol=1e-5)
        assert torch.allclose(got_grad, expected_grad[rank], atol=1e-5)
        assert torch.allclose(r_mean, ref.running_mean, atol=1e-6)
        assert torch.allclose(r_var, ref.running_var, atol=1e-5)
    # The weight gradient summed over processes is the single-process one.
    assert torch.allclose(results[0][2] + results[1][2], ref.weight.grad,
                          atol=1e-4)
