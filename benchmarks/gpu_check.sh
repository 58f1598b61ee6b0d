#!/usr/bin/env bash
# One short GPU run: the fitter on all 70,000 MNIST images with its fused SIREN step (the Pallas
# kernel, arena/fields/_pallas.py) against the same fitter without it (XLA's autodiff, dense=xla)
# and against the fit-a-nef design, at exact float32 and then TF32, with each fit's PSNR on and
# off the pixel grid (benchmarks/fit_throughput.py --unfused, one JSON line per precision); then
# one full `arena-build mnist` timed as a fresh process (benchmarks/build_datasets.py); then, on
# the host's CPU, the CPU kernel's vector paths in paired rounds (benchmarks/kernel_paths.py: avx2
# against avx512 where the host has AVX-512F, which this project's own CPU lacks).
#
# The GPU machine has no internet, but its image already holds JAX with CUDA, optax, numpy and
# filelock (all that `from arena import fields, fit, metrics` needs). Bring the MNIST files, from the
# repository root, beforehand:
#   mkdir -p .gpu/data && cp -r "$ARENA_DATA/mnist" .gpu/data/ && echo /.gpu/ >> .git/info/exclude
# then run `bash benchmarks/gpu_check.sh` there, carrying .gpu. Wheels put in .gpu/wheels (for a
# machine that lacks a package) are installed first.
#
# Environment (defaults in brackets): PYTHON [python3]; NEFS [70000], STEPS [500], NAIVE_NEFS [64],
# NAIVE_STEPS [100], FITANEF_NEFS [8192], FITANEF_STEPS [100]; DENSE [auto: the Pallas step on a
# GPU; pallas forces it, interpreted off GPUs]; PRECISIONS ["float32 tensorfloat32"]; BUILD [1; 0
# skips the arena-build run]; PATHS_NEFS [1024], PATHS_STEPS [200], PATHS_ROUNDS [3; 0 skips the
# CPU paths]. The CPU dry run of the script (tests/test_gpu_scripts.py) sets tiny sizes,
# DENSE=pallas, PRECISIONS=tensorfloat32 and BUILD=0.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/_gpu_env.sh
PYTHON=${PYTHON:-python3}
# one timed run of each (--repeats 1): device time is scarce, and a dedicated GPU is not the
# shared, noisy CPU that best-of-three guards against. First at exact float32 (the default), then
# with TF32 matmuls (fit, Pallas step and baselines alike), the precision JAX would pick on its own.
for precision in ${PRECISIONS:-float32 tensorfloat32}; do
  "$PYTHON" benchmarks/fit_throughput.py --nefs "${NEFS:-70000}" --steps "${STEPS:-500}" \
    --naive-nefs "${NAIVE_NEFS:-64}" --naive-steps "${NAIVE_STEPS:-100}" \
    --fitanef-nefs "${FITANEF_NEFS:-8192}" --fitanef-steps "${FITANEF_STEPS:-100}" --repeats 1 \
    --precision "$precision" --dense "${DENSE:-auto}" --unfused
done
if [[ "${BUILD:-1}" != 0 ]]; then
  "$PYTHON" benchmarks/build_datasets.py "mnist=$ARENA_DATA/mnist"  # the default recipe: float32
fi
if [[ "${PATHS_ROUNDS:-3}" != 0 ]]; then  # needs a C++ compiler on the host; says so when it lacks one
  JAX_PLATFORMS=cpu "$PYTHON" benchmarks/kernel_paths.py --nefs "${PATHS_NEFS:-1024}" \
    --steps "${PATHS_STEPS:-200}" --rounds "${PATHS_ROUNDS:-3}" || echo "kernel paths: not measured (see above)"
fi
