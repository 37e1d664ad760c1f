#!/usr/bin/env bash
# Installs into the virtual environment $1 whatever of the stack is missing:
# torch + torchvision, mmcv 2.1.0 (built from source against that torch, the
# wheel cached per torch version), mmengine, mmdet, mmpretrain, openmim, the
# test tools and this package. Each step is skipped when what it installs
# already imports, so a second run takes seconds.
set -euo pipefail

VENV=${1:-.venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$(cd "$(dirname "$VENV")" && pwd)/$(basename "$VENV")/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
WHEEL_CACHE=${MMDET_VIT_TRANSFER_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdet_vit_transfer/wheels}
MMCV_VERSION=2.1.0
REQUIREMENTS=(-r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt")

say() { printf '[bootstrap] %s\n' "$*"; }
# Run from / so that a checkout in the working directory does not count as
# an installed package.
imports() { (cd / && "$PY" -c "$1" >/dev/null 2>&1); }
TORCH='import torch, torchvision'
MMCV='from mmcv.ops import roi_align'
STACK='import mmengine, mmdet, mmpretrain.models, pycocotools, einops, shapely, scipy, tensorboard, tidecv, matplotlib, pytest, pytest_timeout, hypothesis, pkg_resources'
MIM='import mim'
PACKAGE='import mmdet_vit_transfer'

build_mmcv() {  # $1: folder that receives the wheel
  local build
  build=$(mktemp -d)
  # mmcv's setup.py imports pkg_resources (setuptools < 70 for the build).
  "${PIP[@]}" install 'setuptools<70' wheel ninja
  "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation \
    "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "${PIP[@]}" wheel --no-deps --no-build-isolation \
    -w "$build/dist" "$build/mmcv-$MMCV_VERSION"
  cp "$build"/dist/mmcv-"$MMCV_VERSION"-*.whl "$1/"
  rm -rf "$build"
}

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
  torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
  cache="$WHEEL_CACHE/torch-$torch_version"
  mkdir -p "$cache"
  if ! ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION against torch $torch_version (10-25 minutes on 2 cores)"
    build_mmcv "$cache"
  fi
  say "installing mmcv from $cache and the OpenMMLab stack"
  "${PIP[@]}" install "$cache"/mmcv-"$MMCV_VERSION"-*.whl "${REQUIREMENTS[@]}"
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
