import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
from gloo_ranks import run_on_two_ranks
from mmengine.config import Config

from mmdet_vit_transfer.engine.distributed import (CPU_MODEL_WRAPPER,
                                                   dist_env_from_launcher,
                                                   resolve_dist_backend,
                                                   setup_distributed,
                                                   use_any_device_wrapper)
from mmdet_vit_transfer.engine.model_wrappers import (
    AnyDeviceDistributedDataParallel, convert_sync_batchnorm_to_sample_sync)
from mmdet_vit_transfer.models.layers import SampleSyncBatchNorm2d


@pytest.mark.parametrize('requested,cuda,expected', [
    ('nccl', False, 'gloo'),
    (None, False, 'gloo'),
    ('gloo', False, 'gloo'),
    ('mpi', False, 'mpi'),
    ('nccl', True, 'nccl'),
    ('gloo', True, 'gloo'),
])
def test_backend_is_gloo_only_when_nccl_cannot_run(requested, cuda,
                                                   expected):
    assert resolve_dist_backend(requested, cuda) == expected


def test_torchrun_environment_is_used_as_is():
    environ = dict(RANK='3', WORLD_SIZE='8', LOCAL_RANK='1',
                   MASTER_ADDR='node0', MASTER_PORT='1234')
    assert dist_env_from_launcher('pytorch', environ) == environ


def test_slurm_variables_map_to_torch_ones():
    environ = dict(SLURM_PROCID='5', SLURM_NTASKS='8', SLURM_LOCALID='1',
                   SLURM_NODELIST='gpu[01-02]')
    env = dist_env_from_launcher('slurm', environ,
                                 first_host=lambda nodes: nodes[:3] + '01')
    assert env == dict(RANK='5', WORLD_SIZE='8', LOCAL_RANK='1',
                       MASTER_ADDR='gpu01', MASTER_PORT='29500')
    environ.update(MASTER_ADDR='10.0.0.7', MASTER_PORT='4321')
    env = dist_env_from_launcher('slurm', environ,
                                 first_host=lambda nodes: 'unused')
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('10.0.0.7', '4321')


def test_mpi_variables_map_to_torch_ones():
    environ = dict(OMPI_COMM_WORLD_RANK='2', OMPI_COMM_WORLD_SIZE='4',
                   OMPI_COMM_WORLD_LOCAL_RANK='0', MASTER_ADDR='head')
    assert dist_env_from_launcher('mpi', environ) == dict(
        RANK='2', WORLD_SIZE='4', LOCAL_RANK='0', MASTER_ADDR='head',
        MASTER_PORT='29500')


def test_missing_launcher_variables_are_named():
    with pytest.raises(KeyError, match='SLURM_NTASKS.*SLURM_NODELIST'):
        dist_env_from_launcher('slurm', dict(SLURM_PROCID='0',
                                             SLURM_LOCALID='0'))
    with pytest.raises(KeyError, match='WORLD_SIZE'):
        dist_env_from_launcher('pytorch', dict(RANK='0', LOCAL_RANK='0',
                                               MASTER_ADDR='x'))
    with pytest.raises(ValueError, match="'torchrun'"):
        dist_env_from_launcher('torchrun', {})


def test_slurm_node_list_without_scontrol_asks_for_master_addr(
        monkeypatch):
    monkeypatch.setenv('PATH', '')
    environ = dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_LOCALID='0',
                   SLURM_NODELIST='node[1-2]')
    with pytest.raises(RuntimeError, match='set MASTER_ADDR'):
        dist_env_from_launcher('slurm', environ)


def _start_as_srun_would(rank):
    """One process of ``srun --ntasks=2``: slurm's variables (and the
    master address, which scontrol would give) only."""
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        os.environ.pop(name, None)
    os.environ.update(SLURM_PROCID=str(rank), SLURM_NTASKS='2',
                      SLURM_LOCALID=str(rank), SLURM_NODELIST='localhost')
    cfg = Config(dict(launcher='slurm',
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    setup_distributed(cfg)
    value = torch.tensor([rank + 1.0])
    dist.all_reduce(value)
    return dict(backend=dist.get_backend(), world=dist.get_world_size(),
                rank=dist.get_rank(), sum=float(value))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path')
def test_slurm_tasks_form_a_gloo_group():
    ranks = run_on_two_ranks(_start_as_srun_would, init_group=False)
    assert ranks == [dict(backend='gloo', world=2, rank=r, sum=3.0)
                     for r in range(2)]


def test_one_process_leaves_the_config_alone():
    cfg = Config(dict(launcher='none', env_cfg=dict(
        dist_cfg=dict(backend='nccl'))))
    setup_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg
    assert not dist.is_initialized()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU path')
def test_cpu_launch_initialises_gloo_and_the_wrapper(monkeypatch):
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(_free_port()))
    cfg = Config(dict(launcher='pytorch', find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl',
                                                 timeout=60))))
    try:
        setup_distributed(cfg)
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg == dict(
        type=CPU_MODEL_WRAPPER, broadcast_buffers=False,
        find_unused_parameters=True)


def test_a_custom_wrapper_is_kept():
    cfg = Config(
        dict(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')))
    use_any_device_wrapper(cfg)
    assert cfg.model_wrapper_cfg.type == 'MMFullyShardedDataParallel'


def sync_bn_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.SyncBatchNorm(4),
                          nn.Sequential(nn.SyncBatchNorm(4, momentum=0.3)))
    with torch.no_grad():
        model[1].weight.fill_(2.0)
        model[1].running_mean.fill_(0.5)
        model[1].num_batches_tracked.fill_(7)
    return model


def test_sync_batchnorm_becomes_sample_sync_with_its_state():
    model = convert_sync_batchnorm_to_sample_sync(sync_bn_model())
    first, second = model[1], model[2][0]
    assert type(first) is SampleSyncBatchNorm2d
    assert type(second) is SampleSyncBatchNorm2d
    assert (first.weight == 2).all() and (first.running_mean == 0.5).all()
    assert first.num_batches_tracked == 7 and second.momentum == 0.3
    model(torch.randn(2, 3, 5, 5)).sum().backward()
    assert first.weight.grad is not None


def test_unsupported_sync_batchnorm_is_named():
    model = nn.Sequential(nn.SyncBatchNorm(4, momentum=None))
    with pytest.raises(ValueError, match=r"SyncBatchNorm 0 .*momentum=None"):
        convert_sync_batchnorm_to_sample_sync(model)


def _train_two_steps(rank):
    torch.manual_seed(0)
    model = AnyDeviceDistributedDataParallel(
        sync_bn_model(), device_ids=[rank], broadcast_buffers=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):
        # Different data, and a different number of samples, per rank.
        torch.manual_seed(10 * rank + step)
        x = torch.randn(2 + 3 * rank, 3, 4, 4) * (rank + 1)
        model(x).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    bn = model.module[1]
    return dict(wrapped_type=type(bn).__name__,
                device_ids=model.device_ids,
                running_mean=bn.running_mean.clone(),
                running_var=bn.running_var.clone(),
                weight=model.module[0].weight.detach().clone())


def test_cpu_ddp_trains_with_synced_statistics_on_two_ranks():
    ranks = run_on_two_ranks(_train_two_steps)
    assert [r['wrapped_type'] for r in ranks] == ['SampleSyncBatchNorm2d'] * 2
    assert ranks[0]['device_ids'] is None
    for key in ('running_mean', 'running_var', 'weight'):
        assert (ranks[0][key] == ranks[1][key]).all(), key
    # The statistics did move away from their initial values.
    assert not np.allclose(ranks[0]['running_mean'], 0.5)
