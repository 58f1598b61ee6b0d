# Sourced from the repository root by gpu_check.sh and gpu_build.sh: the environment of a run on a
# GPU machine, whose image holds JAX with CUDA but not this package.
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then  # packages the machine lacks, brought as wheels
  python3 -m pip install -q --no-index --no-deps --target /tmp/arena-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/arena-site
fi
# the builders ship as `arena_builders` when installed; from a checkout, link them under that name
mkdir -p /tmp/arena-builders && ln -sfn "$PWD/builders" /tmp/arena-builders/arena_builders
export PYTHONPATH="/tmp/arena-builders:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export ARENA_DATA=${ARENA_DATA:-$PWD/.gpu/data}  # the raw source files (benchmarks/_common.py)
# JAX would take 75 % of the GPU's memory up front; a second process (fit_throughput.py's
# baselines with JAX's defaults) needs some of it while the first still holds its own
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
