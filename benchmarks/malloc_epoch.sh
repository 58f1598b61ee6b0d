#!/usr/bin/env bash
# What keeping freed memory (arena-eval's default; ARENA_MALLOC=0 turns it off) buys a graph
# baseline: paired rounds alternating the setting, one training epoch of baseline:gnn on
# neural_digits with one thread, each in a fresh process. Prints per run the epoch seconds, the
# process's user and system CPU seconds and its peak resident memory.
#   bash benchmarks/malloc_epoch.sh [ROUNDS] [MODEL]     (defaults: 2, gnn)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
MODEL=${2:-gnn}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for round in $(seq "$ROUNDS"); do
  for setting in 0 1; do
    /usr/bin/time -f "round $round ARENA_MALLOC=$setting: wall %e s, user %U s, system %S s, peak RSS %M kB" \
      -o "$TMP/time" env ARENA_MALLOC=$setting arena-eval "baseline:$MODEL" --dataset neural_digits \
      --seeds 1 --epochs 1 --threads 1 --quiet --out "$TMP/r.json" > /dev/null
    epoch=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seeds'][0]['epoch_seconds'])" "$TMP/r.json")
    echo "$(cat "$TMP/time"); training epoch $epoch s"
  done
done
