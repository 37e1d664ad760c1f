#!/usr/bin/env bash
# Prints the path of an mmcv 2.1.0 wheel built for the torch of the Python
# interpreter $1, building it from mmcv's source first when the cache has
# none. OpenMMLab publishes mmcv 2.1.0 wheels only for torch <= 2.1, and
# mmdet 3.3 refuses mmcv >= 2.2, so on a current torch this is the way to a
# working mmcv.
#
# CUDA ops are compiled when torch is a CUDA build, for the architectures in
# TORCH_CUDA_ARCH_LIST (e.g. '9.0', '8.0;8.6'), by default those of the
# visible GPUs (none visible and no list: the CPU ops only), with the nvcc
# of $CUDA_HOME, else /usr/local/cuda, else the nvcc on PATH. FORCE_CUDA=0
# builds the CPU ops only.
# The wheel is cached under $MMDET_VIT_TRANSFER_WHEELS (default
# ~/.cache/mmdet_vit_transfer/wheels) in a folder named after the torch
# build and what was compiled, e.g. torch-2.14.1+cu130-ops-cpu or
# torch-2.14.1+cu130-ops-cu13.0-arch9.0. MAX_JOBS bounds the parallel
# compiler processes (default: the number of cores).
set -euo pipefail

PY=${1:?usage: scripts/mmcv_wheel.sh PYTHON}
WHEEL_CACHE=${MMDET_VIT_TRANSFER_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdet_vit_transfer/wheels}
MMCV_VERSION=2.1.0

say() { printf '[mmcv] %s\n' "$*" >&2; }
fail() { printf '[mmcv] error: %s\n' "$*" >&2; exit 1; }
torch_says() { (cd / && "$PY" -c "import torch; print($1)"); }

# The torch build, its CUDA and the architectures of the visible GPUs.
read -r TORCH_VERSION TORCH_CUDA VISIBLE_ARCHES < <(torch_says "torch.__version__, torch.version.cuda or '-', ';'.join(sorted({'%d.%d' % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})) or '-'" 2>/dev/null) || true
[ -n "${TORCH_VERSION:-}" ] ||
  fail "torch does not import in $PY: install the PyTorch build for your hardware first (https://pytorch.org/get-started/locally/)"
[ "$TORCH_CUDA" = - ] && TORCH_CUDA=
[ "$VISIBLE_ARCHES" = - ] && VISIBLE_ARCHES=

find_cuda_home() {
  local nvcc
  for home in "${CUDA_HOME:-}" /usr/local/cuda; do
    [ -n "$home" ] && [ -x "$home/bin/nvcc" ] && { echo "$home"; return; }
  done
  nvcc=$(command -v nvcc) && dirname "$(dirname "$nvcc")"
}

# What to compile: the CUDA ops for a list of architectures, or the CPU
# ops only.
ARCHES=
if [ -n "$TORCH_CUDA" ] && [ "${FORCE_CUDA:-}" != 0 ]; then
  ARCHES=${TORCH_CUDA_ARCH_LIST:-$VISIBLE_ARCHES}
fi
if [ -n "$ARCHES" ]; then
  CUDA_HOME_FOUND=$(find_cuda_home) ||
    fail "no nvcc was found for mmcv's CUDA ops: install the CUDA $TORCH_CUDA toolkit (or set CUDA_HOME to it), or FORCE_CUDA=0 for mmcv without them"
  # '8.0 9.0+PTX' and '9.0+PTX;8.0' name the same build: arch8.0_9.0+PTX.
  key="torch-$TORCH_VERSION-ops-cu$TORCH_CUDA-arch$(tr ' ;,' '\n\n\n' <<<"$ARCHES" | sed '/^$/d' | sort -u | paste -sd_)"
else
  if [ "${FORCE_CUDA:-}" = 1 ] && [ -z "$TORCH_CUDA" ]; then
    fail "FORCE_CUDA=1 but torch $TORCH_VERSION is a CPU build: install a CUDA build of torch first"
  elif [ "${FORCE_CUDA:-}" = 1 ]; then
    fail "FORCE_CUDA=1 but no GPU is visible: set TORCH_CUDA_ARCH_LIST, e.g. '9.0' (H100), '8.0' (A100), '8.6' (RTX 30xx, A40), '8.9' (RTX 40xx, L4, L40)"
  fi
  if [ -n "$TORCH_CUDA" ] && [ -z "${FORCE_CUDA:-}" ] && find_cuda_home >/dev/null; then
    say "no GPU is visible: mmcv with CPU ops only (with TORCH_CUDA_ARCH_LIST=9.0, for example, it is built with the CUDA ops of an H100)"
  fi
  key="torch-$TORCH_VERSION-ops-cpu"
fi
cache="$WHEEL_CACHE/$key"

if ! ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  # mmcv's setup.py imports pkg_resources (setuptools < 70) and torch. The
  # build runs in a throw-away environment that has that setuptools and sees
  # the torch of $PY through a .pth file, so the environment of $PY is never
  # touched, whether the build succeeds or fails.
  "$PY" -m venv "$build/venv"
  build_py="$build/venv/bin/python"
  site=$("$build_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  torch_site=$(dirname "$(torch_says 'torch.__path__[0]')")
  echo "$torch_site" >"$site/build-against-torch.pth"
  "$build_py" -m pip --disable-pip-version-check -q install 'setuptools<70' wheel ninja
  "$build_py" -m pip --disable-pip-version-check -q download --no-deps \
    --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build"
  tar -xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 asks for C++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  if [ -n "$ARCHES" ]; then
    export CUDA_HOME=$CUDA_HOME_FOUND FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$ARCHES
    # A toolkit installed as the nvcc wheel has no cuSPARSE / cuBLAS
    # headers, which torch's CUDA headers include: use those of the NVIDIA
    # wheels that came with torch.
    if [ ! -e "$CUDA_HOME/include/cusparse.h" ]; then
      headers=$(find "$torch_site/nvidia" -maxdepth 3 \( -name cusparse.h -o -name cublas_v2.h \) \
        -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
      export CPATH=${headers}${CPATH:+:$CPATH}
    fi
    say "building mmcv $MMCV_VERSION with CUDA ops for $key (nvcc of $CUDA_HOME; about 70 CPU-minutes per architecture, over MAX_JOBS cores)"
  else
    # mmcv's setup.py compiles CUDA ops whenever torch sees a GPU.
    export CUDA_VISIBLE_DEVICES= FORCE_CUDA=0
    say "building mmcv $MMCV_VERSION with CPU ops for $key (10-25 minutes on 2 cores)"
  fi
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$build_py" -m pip --disable-pip-version-check -q wheel --no-deps \
    --no-build-isolation -w "$build/dist" "$build/mmcv-$MMCV_VERSION"
  # setup.py skips the ops, quietly, when it cannot import torch.
  "$build_py" -c 'import sys, zipfile
sys.exit(not any(n.startswith("mmcv/_ext.") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' \
    "$build"/dist/mmcv-"$MMCV_VERSION"-*.whl ||
    fail "the mmcv build compiled no ops: torch $TORCH_VERSION of $torch_site did not import in the build environment"
  mkdir -p "$cache"
  cp "$build"/dist/mmcv-"$MMCV_VERSION"-*.whl "$cache/"
fi
ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1
