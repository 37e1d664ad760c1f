#!/usr/bin/env bash
# Downloads into $1 (default .gpu_wheels) what benchmarks/gpu/cuda_check.py
# installs on a GPU machine with Python 3.12, a CUDA torch and timm but no
# OpenMMLab stack and no network: the wheels of benchmarks/gpu/wheels.txt
# for CPython 3.12 on x86-64 Linux, what building mmcv needs in its own
# environment (setuptools < 70, wheel, ninja) and mmcv 2.1.0's source.
# Fails if they take more than 64 MiB, the most that travels with the
# working tree. `make gpu-wheels` runs it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/.gpu_wheels}
PY=${PYTHON:-python3}
LIMIT_MIB=64
DOWNLOAD=("$PY" -m pip --disable-pip-version-check -q download --no-deps -d "$OUT")
CP312=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux_2_28_x86_64)

mkdir -p "$OUT"
rm -f "$OUT"/*.whl "$OUT"/*.tar.gz
"${DOWNLOAD[@]}" "${CP312[@]}" -r "$ROOT/benchmarks/gpu/wheels.txt"
"${DOWNLOAD[@]}" "${CP312[@]}" 'setuptools<70' wheel ninja
# mmcv's setup.py needs pkg_resources (setuptools < 70) to give its
# metadata; PIP_CONSTRAINT reaches pip's isolated build environment.
constraint=$(mktemp)
trap 'rm -f "$constraint"' EXIT
echo 'setuptools<70' >"$constraint"
PIP_CONSTRAINT=$constraint "${DOWNLOAD[@]}" --no-binary :all: mmcv==2.1.0

files=("$OUT"/*.whl "$OUT"/*.tar.gz)
bytes=$(du -cb "${files[@]}" | tail -n 1 | cut -f 1)
du -b "${files[@]}" | sort -rn | awk '{ printf "  %7.2f MiB  %s\n", $1 / 1048576, $2 }'
mib=$(awk "BEGIN { printf \"%.1f\", $bytes / 1048576 }")
if [ "$bytes" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "[gpu-wheels] $OUT holds $mib MiB, over the $LIMIT_MIB MiB that travel with the tree" >&2
  exit 1
fi
echo "[gpu-wheels] $OUT: ${#files[@]} files, $mib MiB"
