#!/usr/bin/env bash
# Measure the fitter on a GPU with all 70,000 MNIST images; prints the same JSON line as the
# CPU benchmark (fit_throughput.py), with the same two baselines on subsets, once per precision.
#
# The GPU machine has no internet, but its image already holds JAX with CUDA, optax, numpy and
# filelock (all that `from arena import fields, fit, metrics` needs). Bring the MNIST files, from the
# repository root, beforehand:
#   mkdir -p .gpu/data && cp -r ../shared/data/mnist .gpu/data/ && echo /.gpu/ >> .git/info/exclude
# then run `bash benchmarks/gpu_check.sh` there, carrying .gpu. Wheels put in .gpu/wheels (for a
# machine that lacks a package) are installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/arena-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/arena-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export ARENA_SHARED_DATA=${ARENA_SHARED_DATA:-$PWD/.gpu/data}
# JAX would take 75 % of the GPU's memory up front; the baselines' second run, in a fresh process
# with JAX's defaults, needs some of it while this process still holds its own
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# one timed run of each (--repeats 1): device time is scarce, and a dedicated GPU is not the
# shared, noisy CPU that best-of-three guards against. First at exact float32 (the default), then
# with TF32 matmuls (fit and baselines alike), the precision JAX would pick on its own on a GPU.
for precision in float32 tensorfloat32; do
  python3 benchmarks/fit_throughput.py --nefs 70000 --naive-nefs 64 --naive-steps 100 \
    --fitanef-nefs 8192 --fitanef-steps 100 --repeats 1 --precision "$precision"
done
