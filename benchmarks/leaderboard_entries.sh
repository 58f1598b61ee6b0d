#!/usr/bin/env bash
# The leaderboard's reference entries, each made by `arena-eval --submit`, never by hand.
#
#   bash benchmarks/leaderboard_entries.sh gnn-digits transformer-digits   # some entries
#   bash benchmarks/leaderboard_entries.sh all
#   bash benchmarks/leaderboard_entries.sh --print all                     # the commands only
#
# Entries: mlp-digits dws-digits gnn-digits transformer-digits mlp-mnist mlp-subset dws-subset.
# One torch thread each, as the recorded hardware says. The graph models' full recipes take
# hours per seed on a CPU (~2.5 h per transformer seed here); arena-eval keeps a checkpoint in
# $ARENA_HOME/runs, and running the same entry again continues it where it stopped, to the same
# numbers. An entry already on the board is refused unless FORCE=1. neural_mnist must be in the
# store for the mnist and subset entries (the subset is cut from it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

print=0
if [[ "${1:-}" == "--print" ]]; then print=1; shift; fi
(($#)) || { sed -n 2,12p "$0"; exit 2; }
ENTRIES=(mlp-digits dws-digits gnn-digits transformer-digits mlp-mnist mlp-subset dws-subset)
[[ "$*" == "all" ]] && set -- "${ENTRIES[@]}"

BIN=${ARENA_BIN:-.venv/bin}
AUTHORS="Neural Field Arena contributors"
SUBSET_VERSION=1.0.0+train2000.val500.test1000.seed0
MLP_NOTE="Reference baseline baseline:mlp as shipped (flat parameter vector, 40 epochs)."
DWS_NOTE="Reference baseline baseline:dws as shipped (Navon et al. 2023), its full recipe: 100 epochs, batch 512."
GRAPH_RECIPE="its full recipe: 200 epochs, batch 128, AdamW+AMSGrad, 2-epoch warmup, clip 10."
GNN_NOTE="Reference baseline baseline:gnn as shipped (Kofinas et al. 2024, PNA), $GRAPH_RECIPE"
RT_NOTE="Reference baseline baseline:transformer as shipped (Kofinas et al. 2024, Relational Transformer), $GRAPH_RECIPE"

subset() {  # the pinned neural_mnist subset, cut from neural_mnist when the store lacks it
    local home dir
    home=$("$BIN/python" -c "from arena import hub; print(hub.home())")
    dir="$home/datasets/neural_mnist_subset/$SUBSET_VERSION"
    if ((!print)) && [[ ! -f "$dir/arena.json" ]]; then
        "$BIN/arena" subset neural_mnist --train 2000 --val 500 --test 1000 --seed 0 >&2
    fi
    echo "$dir"
}

entry() {  # entry NAME MODEL DATASET METHOD NOTE [PAPER_URL]
    local cmd=("$BIN/arena-eval" "$2" --dataset "$3" --seeds 3 --threads 1 --submit --name "$4"
               --authors "$AUTHORS" --note "$5")
    [[ -n "${6:-}" ]] && cmd+=(--paper-url "$6")
    [[ "${FORCE:-0}" == 1 ]] && cmd+=(--force)
    if ((print)); then
        printf '%s:' "$1"; printf ' %q' "${cmd[@]}"; echo
    else
        echo "== $1" >&2
        OMP_WAIT_POLICY=PASSIVE "${cmd[@]}"
    fi
}

for name in "$@"; do
    case "$name" in
        mlp-digits) entry "$name" baseline:mlp neural_digits MLP "$MLP_NOTE" ;;
        dws-digits) entry "$name" baseline:dws neural_digits DWSNet "$DWS_NOTE" https://arxiv.org/abs/2301.12780 ;;
        gnn-digits) entry "$name" baseline:gnn neural_digits "GNN (neural graphs)" "$GNN_NOTE" \
            https://arxiv.org/abs/2403.12143 ;;
        transformer-digits) entry "$name" baseline:transformer neural_digits "Relational Transformer (neural graphs)" \
            "$RT_NOTE" https://arxiv.org/abs/2403.12143 ;;
        mlp-mnist) entry "$name" baseline:mlp neural_mnist MLP "$MLP_NOTE" ;;
        mlp-subset) entry "$name" baseline:mlp "$(subset)" MLP "$MLP_NOTE" ;;
        dws-subset) entry "$name" baseline:dws "$(subset)" DWSNet "$DWS_NOTE" https://arxiv.org/abs/2301.12780 ;;
        *) echo "error: unknown entry '$name'; choose from: ${ENTRIES[*]} or all" >&2; exit 2 ;;
    esac
done
