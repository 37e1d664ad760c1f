"""The mmcv that scripts/mmcv_wheel.sh builds: its cache key names the torch
build and what was compiled, and where a GPU is present the installed mmcv
has the CUDA kernels of RoIAlign and NMS."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).parents[1]


def cached_wheel(tmp_path, **env):
    """What scripts/mmcv_wheel.sh prints with a cache holding a wheel for
    every key, so that it builds nothing."""
    result = subprocess.run(
        ['bash', str(REPO / 'scripts' / 'mmcv_wheel.sh'), sys.executable],
        env=dict(os.environ, MMDET_VIT_TRANSFER_WHEELS=str(tmp_path), **env),
        capture_output=True, text=True, timeout=120)
    return result


@pytest.mark.skipif(not torch.version.cuda, reason='needs a CUDA build of '
                    'torch: the cache key of the CUDA ops')
def test_wheel_cache_key_names_torch_cuda_and_architectures(tmp_path):
    key = f'torch-{torch.__version__}-ops-cu{torch.version.cuda}-arch8.0_9.0+PTX'
    wheel = tmp_path / key / 'mmcv-2.1.0-cp3-cp3-linux_x86_64.whl'
    wheel.parent.mkdir()
    wheel.touch()
    # The same architectures in another order and spelling: the same build.
    result = cached_wheel(tmp_path, TORCH_CUDA_ARCH_LIST='9.0+PTX 8.0')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(wheel)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='no CUDA device: the CUDA kernels of mmcv.ops run '
                    'only on a GPU')
def test_roi_align_and_nms_run_on_cuda_as_on_cpu():
    from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
    assert get_compiling_cuda_version() != 'not available'
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 8, 32, 32, generator=generator)
    xy = torch.rand(16, 2, generator=generator) * 96
    wh = torch.rand(16, 2, generator=generator) * 32 + 4
    rois = torch.cat([torch.randint(0, 2, (16, 1), generator=generator),
                      xy, xy + wh], 1).float()
    roi_align = RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2,
                         aligned=True)
    on_cpu = roi_align(features, rois)
    on_gpu = roi_align(features.cuda(), rois.cuda())
    assert on_gpu.is_cuda
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-5, rtol=1e-5)

    boxes, scores = rois[:, 1:], torch.rand(16, generator=generator)
    _, keep_cpu = nms(boxes, scores, iou_threshold=0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), iou_threshold=0.5)
    assert keep_gpu.is_cuda
    assert keep_gpu.cpu().tolist() == keep_cpu.tolist()
