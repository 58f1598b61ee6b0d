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
source benchmarks/_gpu_env.sh
# one timed run of each (--repeats 1): device time is scarce, and a dedicated GPU is not the
# shared, noisy CPU that best-of-three guards against. First at exact float32 (the default), then
# with TF32 matmuls (fit and baselines alike), the precision JAX would pick on its own on a GPU.
for precision in float32 tensorfloat32; do
  python3 benchmarks/fit_throughput.py --nefs 70000 --naive-nefs 64 --naive-steps 100 \
    --fitanef-nefs 8192 --fitanef-steps 100 --repeats 1 --precision "$precision"
done
