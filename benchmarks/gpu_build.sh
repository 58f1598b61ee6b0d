#!/usr/bin/env bash
# Build a neural dataset on a GPU machine and report wall time, NeFs/s and fit quality
# (benchmarks/build_datasets.py, one fresh `arena-build` process, imports and compilation
# included). Default: Neural MNIST, all 70,000 NeFs, from the MNIST files in .gpu/data/mnist.
#
# Prepare as for gpu_check.sh (the machine's image holds JAX with CUDA and the packages a build
# needs; bring the MNIST files in .gpu/data), then run `bash benchmarks/gpu_build.sh` there,
# carrying .gpu. Other datasets: `bash benchmarks/gpu_build.sh cifar10=PATH --limit 100`.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/arena-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/arena-site
fi
# the builders ship as `arena_builders` when installed; from a checkout, link them under that name
mkdir -p /tmp/arena-builders && ln -sfn "$PWD/builders" /tmp/arena-builders/arena_builders
export PYTHONPATH="/tmp/arena-builders:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
if [[ $# -eq 0 ]]; then set -- "mnist=${ARENA_SHARED_DATA:-$PWD/.gpu/data}/mnist"; fi
python3 benchmarks/build_datasets.py "$@"
