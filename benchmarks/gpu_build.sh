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
source benchmarks/_gpu_env.sh
if [[ $# -eq 0 ]]; then set -- "mnist=$ARENA_DATA/mnist"; fi
python3 benchmarks/build_datasets.py "$@"
