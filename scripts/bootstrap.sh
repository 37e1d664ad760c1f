#!/usr/bin/env bash
# Installs into the virtual environment $1 whatever of the stack is missing:
# torch + torchvision, mmcv 2.1.0 (built from source against that torch in a
# throw-away environment, the wheel cached per torch build and CUDA ops),
# mmengine, mmdet, mmpretrain, openmim, the test tools and this package.
# Each step is skipped when what it installs already imports, so a second
# run takes seconds.
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
STACK='import mmengine, mmdet, mmpretrain.models, timm, safetensors, pycocotools, einops, shapely, scipy, tensorboard, tidecv, matplotlib, pytest, pytest_timeout, hypothesis, pkg_resources, open_clip, segment_anything'
MIM='import mim'
PACKAGE='import mmdet_vit_transfer'

build_mmcv() {  # $1: folder that receives the wheel
  local build build_py site
  build=$(mktemp -d)
  trap "rm -rf '$build'" EXIT
  # mmcv's setup.py imports pkg_resources (setuptools < 70) and torch. The
  # build runs in a throw-away environment that has that setuptools and sees
  # the torch of $VENV through a .pth file, so $VENV's own setuptools is never
  # touched, whether the build succeeds or fails.
  "$PY" -m venv "$build/venv"
  build_py="$build/venv/bin/python"
  site=$("$build_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/build-against-venv.pth"
  "$build_py" -m pip --disable-pip-version-check -q install 'setuptools<70' wheel ninja
  "$build_py" -m pip --disable-pip-version-check -q download --no-deps \
    --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$build_py" -m pip --disable-pip-version-check -q wheel --no-deps \
    --no-build-isolation -w "$build/dist" "$build/mmcv-$MMCV_VERSION"
  cp "$build"/dist/mmcv-"$MMCV_VERSION"-*.whl "$1/"
}

# The wheel cache key: the torch build, and whether mmcv's CUDA ops are
# compiled and for which CUDA (mmcv's setup.py compiles them when CUDA is
# available or FORCE_CUDA=1), so a CPU-only build is never reused on a GPU
# machine. E.g. torch-2.14.1+cu130-ops-cpu, torch-2.14.1+cu130-ops-cu13.0.
wheel_cache_key() {
  "$PY" -c 'import os, torch
cuda = torch.version.cuda and (torch.cuda.is_available() or os.environ.get("FORCE_CUDA") == "1")
print(f"torch-{torch.__version__}-ops-" + (f"cu{torch.version.cuda}" if cuda else "cpu"))'
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
  cache="$WHEEL_CACHE/$(wheel_cache_key)"
  mkdir -p "$cache"
  if ! ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    say "building mmcv $MMCV_VERSION for $(basename "$cache") (10-25 minutes on 2 cores)"
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
