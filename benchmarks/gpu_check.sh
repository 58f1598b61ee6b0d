#!/usr/bin/env bash
# Measure the fitter on a GPU with all 70,000 MNIST images; prints the same JSON line as the
# CPU benchmark (fit_throughput.py), with the same two baselines on subsets.
#
# The GPU machine has no internet: bring what it lacks. From the repository root, beforehand:
#   mkdir -p .gpu/data && cp -r ../shared/data/mnist .gpu/data/      # the MNIST IDX files
#   echo /.gpu/ >> .git/info/exclude
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/wheels \
#       --platform manylinux_2_27_x86_64 jax==0.10.2 jaxlib==0.10.2 jax-cuda12-plugin==0.10.2 \
#       jax-cuda12-pjrt==0.10.2 optax chex ...   (only what the machine's python lacks)
# then run `bash benchmarks/gpu_check.sh` there, carrying .gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/arena-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/arena-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export ARENA_SHARED_DATA=${ARENA_SHARED_DATA:-$PWD/.gpu/data}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# one timed run of each (--repeats 1): device time is scarce, and a dedicated GPU is not the
# shared, noisy CPU that best-of-three guards against
python3 benchmarks/fit_throughput.py --nefs 70000 --naive-nefs 64 --naive-steps 100 \
  --fitanef-nefs 8192 --fitanef-steps 100 --repeats 1
