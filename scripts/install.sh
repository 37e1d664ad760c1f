#!/usr/bin/env bash
# Installs this package next to the PyTorch of the Python interpreter $1
# (default: python on PATH): mmcv 2.1.0 built for that torch, with its CUDA
# ops when torch is a CUDA build, for the visible GPUs or those of
# TORCH_CUDA_ARCH_LIST (scripts/mmcv_wheel.sh: which nvcc, where the wheel
# is cached), then the package (editable), mmengine, mmdet and mmpretrain.
# `make install` runs it.
set -euo pipefail

PY=${1:-python}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PIP=("$PY" -m pip --disable-pip-version-check -q)

wheel=$(bash "$ROOT/scripts/mmcv_wheel.sh" "$PY")
printf '[install] installing %s and mmdet_vit_transfer\n' "$(basename "$wheel")"
# Replaces an mmcv built for another torch or without the CUDA ops.
"${PIP[@]}" install --no-deps --force-reinstall "$wheel"
"${PIP[@]}" install "$wheel" -e "$ROOT"
(cd / && "$PY" -c 'import mmdet_vit_transfer, mmcv
from mmcv.ops import get_compiling_cuda_version
cuda = get_compiling_cuda_version()
print(f"[install] mmdet_vit_transfer {mmdet_vit_transfer.__version__} ready, mmcv {mmcv.__version__} ops: "
      + ("CPU only" if cuda == "not available" else f"CPU and CUDA {cuda}"))')
