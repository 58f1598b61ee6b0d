"""Run evaluation protocol v1 for baselines on neural datasets; print accuracy and time.

    python benchmarks/eval_baselines.py --dataset neural_digits --models mlp gnn dws transformer
    python benchmarks/eval_baselines.py --dataset neural_mnist --models mlp --seeds 3
    python benchmarks/eval_baselines.py --dataset neural_mnist --models gnn --epochs 5   # CPU budget

Each model runs through the same code as `arena-eval` (``arena.eval.evaluate``); the result
documents are written to ``--out`` (default ``results/bench/``). Times are this machine's:
wall time of the whole protocol (all seeds, imports excluded) and mean seconds per training
epoch. Next to each accuracy, the paper's number (DESIGN §6) where there is one. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PAPER = {  # test accuracy %, Papa et al. 2024 via DESIGN §6
    "neural_mnist": {"gnn": 96.40, "dws": 93.51, "transformer": 95.08},
    "neural_cifar10": {"gnn": 39.83, "dws": 44.01, "transformer": 44.11},
    "neural_microimagenet": {"gnn": 25.08, "dws": 28.61, "transformer": 28.50},
    "neural_shapenet": {"gnn": 82.96, "dws": 91.06, "transformer": 90.31},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="neural_digits")
    parser.add_argument("--models", nargs="+", default=["mlp"], help="baseline names or model files")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override every model's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override every model's batch size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--verbose", action="store_true", help="print one line per epoch")
    args = parser.parse_args()

    import torch  # noqa: F401 - imported before timing

    from arena.eval import evaluate, result

    report = {}
    for name in args.models:
        ref = name if name.endswith(".py") or ":" in name else f"baseline:{name}"
        t = time.perf_counter()
        doc = evaluate(ref, args.dataset, seeds=args.seeds, epochs=args.epochs, batch_size=args.batch_size, device=args.device, threads=args.threads,
                       progress=_epoch_line if args.verbose else False)
        wall = time.perf_counter() - t
        result.write(doc, args.out / doc["dataset"]["name"] / f"{ref.replace(':', '-')}.json")
        s = doc["summary"]
        std = None if s["test_std"] is None else 100 * s["test_std"]  # None: one seed, no spread
        per_epoch = sum(r["epoch_seconds"] for r in doc["seeds"]) / len(doc["seeds"])
        paper = PAPER.get(doc["dataset"]["name"], {}).get(ref.removeprefix("baseline:"))
        report[ref] = {"test_mean": round(100 * s["test_mean"], 2), "test_std": None if std is None else round(std, 2),
                       "val_mean": round(100 * s["val_mean"], 2), "epochs": doc["protocol"]["settings"]["epochs"],
                       "seconds_per_epoch": round(per_epoch, 2), "wall_s": round(wall, 1),
                       "num_parameters": doc["model"]["num_parameters"], "paper": paper,
                       "best_epochs": [r["best_epoch"] for r in doc["seeds"]]}
        note = f"  (paper {paper:.2f})" if paper else ""
        spread = " % (one seed)" if std is None else f" ± {std:.2f} %"
        print(f"{ref} on {doc['dataset']['name']} {doc['dataset']['version']}: test {100 * s['test_mean']:.2f}{spread}"
              f"{note}; {doc['protocol']['settings']['epochs']} epochs x {args.seeds} seeds in {wall:.0f} s "
              f"({per_epoch:.2f} s/epoch, {doc['model']['num_parameters']:,} parameters)")
    print(json.dumps({"dataset": args.dataset, "device": args.device, "results": report}))


def _epoch_line(e: dict) -> None:
    print(f"  seed {e['seed']} epoch {e['epoch']}: val {100 * e['val_accuracy']:.2f}% "
          f"(best {100 * e['best_val_accuracy']:.2f}%), {e['samples_per_second']:,.0f} samples/s", flush=True)


if __name__ == "__main__":
    main()
