"""Does hidden-neuron permutation augmentation help the MLP baseline on shared-init datasets?

    python benchmarks/mlp_augmentation.py --dataset neural_digits --seeds 3

Runs protocol v1 twice with ``baseline:mlp``'s settings, once as shipped (no augmentation) and
once with ``"augment": ["permute"]``, and prints both test accuracies and their difference.
Every NeF of an Arena dataset starts from one shared initialisation, which keeps hidden neurons
aligned across NeFs; random permutations undo that alignment. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="neural_digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()

    from arena.baselines import mlp
    from arena.eval import evaluate

    source = Path(mlp.__file__).read_text()
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, augment in (("none", "[]"), ("permute", '["permute"]')):
            path = Path(tmp) / f"mlp_{label}.py"
            path.write_text(source.replace('"augment": []', f'"augment": {augment}'))
            doc = evaluate(path, args.dataset, seeds=args.seeds, epochs=args.epochs, progress=False)
            assert doc["protocol"]["settings"]["augment"] == json.loads(augment)
            s = doc["summary"]
            report[label] = {"test_mean": round(100 * s["test_mean"], 2),
                             "test_std": round(100 * (s["test_std"] or 0.0), 2)}
            print(f"mlp, augment={augment}: test {report[label]['test_mean']:.2f} ± {report[label]['test_std']:.2f} % "
                  f"({args.seeds} seeds, {doc['protocol']['settings']['epochs']} epochs, {doc['dataset']['name']})")
    delta = report["permute"]["test_mean"] - report["none"]["test_mean"]
    print(f"permutation augmentation changes test accuracy by {delta:+.2f} points")
    print(json.dumps({"dataset": args.dataset, **report, "delta": round(delta, 2)}))


if __name__ == "__main__":
    main()
