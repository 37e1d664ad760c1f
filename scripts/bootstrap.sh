#!/usr/bin/env bash
# Installs into the virtual environment $1 whatever of the stack is missing:
# torch + torchvision, mmcv 2.1.0 (built from source against that torch by
# scripts/mmcv_wheel.sh, with CUDA ops where nvcc is found, the wheel
# cached), mmengine, mmdet, mmpretrain, openmim, the test tools and this
# package.
# Each step is skipped when what it installs already imports, so a second
# run takes seconds.
set -euo pipefail

VENV=${1:-.venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
REQUIREMENTS=(-r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt")

say() { printf '[bootstrap] %s\n' "$*"; }
# Run from / so that a checkout in the working directory does not count as
# an installed package.
imports() { (cd / && "$PY" -c "$1" >/dev/null 2>&1); }
TORCH='import torch, torchvision'
MMCV='from mmcv.ops import roi_align'
STACK='import mmengine, mmdet, mmpretrain.models, timm, safetensors, pycocotools, einops, shapely, scipy, tensorboard, tidecv, matplotlib, pytest, pytest_timeout, hypothesis, pkg_resources, open_clip, segment_anything'
MIM='import mim'
PACKAGE='import mmdet_vit_transfer'

if [ ! -x "$PY" ]; then
  say "creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi

# One interpreter start instead of five when nothing is missing.
if imports "$TORCH; $MMCV; $STACK; $MIM; $PACKAGE"; then
  say "environment ready: $VENV"
  exit 0
fi

if ! imports "$TORCH"; then
  # A GPU user installs the torch build for their CUDA first; this is the
  # default for a machine without one.
  say "installing torch 2.14.1 + torchvision 0.29.1"
  "${PIP[@]}" install torch==2.14.1 torchvision==0.29.1
fi

if ! imports "$MMCV"; then
  wheel=$(bash "$ROOT/scripts/mmcv_wheel.sh" "$PY")
  say "installing $wheel and the OpenMMLab stack"
  "${PIP[@]}" install "$wheel" "${REQUIREMENTS[@]}"
fi

if ! imports "$STACK"; then
  say "installing mmengine, mmdet, mmpretrain and the test tools"
  "${PIP[@]}" install "${REQUIREMENTS[@]}"
fi

if ! imports "$MIM"; then
  say "installing openmim"
  "${PIP[@]}" install -r "$ROOT/requirements/mim.txt"
  "${PIP[@]}" install --no-deps openmim
fi

if ! imports "$PACKAGE"; then
  say "installing mmdet_vit_transfer (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT"
fi
say "environment ready: $VENV"
