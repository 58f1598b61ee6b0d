#!/usr/bin/env bash
# Evaluation protocol v1 for every reference baseline on a GPU: each baseline with its own
# published recipe (its HPARAMS: GNN and Relational Transformer 200 epochs, DWSNet 100, MLP 40),
# seeds 0..2, train on train, select on val, report test. One arena-result/1 document per
# baseline lands in results/gpu/<dataset>/, and benchmarks/eval_baselines.py prints one line per
# baseline (test mean ± std next to the paper's number, seconds per epoch) and a JSON line.
#
#   bash benchmarks/baselines_gpu.sh                       # Neural MNIST, all four baselines
#   bash benchmarks/baselines_gpu.sh neural_cifar10        # another dataset (name or path)
#   MODELS="gnn" SEEDS=1 bash benchmarks/baselines_gpu.sh neural_mnist --epochs 5   # a short run
#   PYTHON=.venv/bin/python DEVICE=cpu SEEDS=1 bash benchmarks/baselines_gpu.sh neural_digits --epochs 1
#
# Needs python3 (or $PYTHON) with torch (a CUDA build) and the Arena's light dependencies (numpy,
# safetensors, typer, rich, jsonschema, huggingface-hub); the repository is put on PYTHONPATH. The
# dataset must be in the local store (ARENA_HOME; `arena download neural_mnist` or
# `arena-build mnist`) or be given as a path. A machine without internet can be given missing
# wheels in .gpu/wheels/ and a dataset directory (Neural MNIST is 319 MB) by path.
# Expect hours, not minutes, for the full protocol of the graph models on Neural MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:-neural_mnist}
shift $(( $# > 0 ? 1 : 0 ))
MODELS=${MODELS:-"mlp gnn dws transformer"}
SEEDS=${SEEDS:-3}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --target /tmp/arena-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/arena-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [[ "$DEVICE" == cuda ]]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  "$PYTHON" -c "import torch, sys; torch.cuda.is_available() or sys.exit('torch sees no CUDA GPU; run with DEVICE=cpu to use the CPU')"
fi
# shellcheck disable=SC2086  # MODELS is a list of words
"$PYTHON" benchmarks/eval_baselines.py --dataset "$DATASET" --models $MODELS --seeds "$SEEDS" \
  --device "$DEVICE" --out results/gpu --verbose "$@"
