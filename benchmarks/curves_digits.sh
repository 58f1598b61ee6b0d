#!/usr/bin/env bash
# The README's learning-curve picture: baseline:mlp and baseline:dws on neural_digits (15 epochs,
# 2 seeds, one thread each), drawn by `arena plot` from their result documents.
#   bash benchmarks/curves_digits.sh [OUT.png]     (default docs/images/curves_neural_digits.png)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/images/curves_neural_digits.png}
bin=$( [ -x .venv/bin/arena ] && echo .venv/bin/ || true )  # scripts/setup.sh's venv, else the PATH
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for model in mlp dws; do
  "${bin}arena-eval" "baseline:$model" --dataset neural_digits --seeds 2 --epochs 15 --threads 1 --quiet \
    --out "$TMP/$model.json"
done
"${bin}arena" plot "$TMP/mlp.json" "$TMP/dws.json" -o "$OUT"
