#!/usr/bin/env bash
# The reproduction of the paper's two findings (issue 21), end to end: the sweep of
# benchmarks/study_mnist.toml on Neural MNIST samples, then its records and result documents
# (without the fitted datasets) into docs/study/sweep, and the figures and table drawn from them
# into docs/study. A killed run resumes where it stopped when rerun.
#
#   ARENA_DATA=/path/to/data bash benchmarks/study_mnist.sh     # $ARENA_DATA/mnist: the IDX files
#
# THREADS (default 2) is the sweep's --threads, OUT (default results/study_mnist) its directory,
# STUDY_DIR (default docs/study) where records, figures and table go; further arguments go to the
# sweep (tests/test_study.py dry-runs this script on one tiny cell that way).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ARENA_DATA:?set ARENA_DATA to the folder that holds mnist/}"
ARENA=${ARENA:-$( [ -x .venv/bin/arena ] && echo .venv/bin/arena || echo arena )}
OUT=${OUT:-results/study_mnist}
start=$(date +%s)
"$ARENA" study sweep benchmarks/study_mnist.toml --source "$ARENA_DATA/mnist" --out "$OUT" --threads "${THREADS:-2}" "$@"
echo "sweep: $(( $(date +%s) - start )) s in this run"

study=${STUDY_DIR:-docs/study}
records=$study/sweep
mkdir -p "$records/cells"
cp "$OUT/sweep.json" "$OUT/cells.jsonl" "$records/"
for cell in "$OUT"/cells/*/; do
  name=$(basename "$cell")
  mkdir -p "$records/cells/$name/results"
  cp "$cell/cell.json" "$records/cells/$name/"
  if compgen -G "$cell/results/*.json" > /dev/null; then cp "$cell"/results/*.json "$records/cells/$name/results/"; fi
done
"$ARENA" study plot "$records" --out "$study"
