"""Test accuracy against training-set size: baselines on seeded subsets of one neural dataset.

    python benchmarks/learning_curves.py --threads 1                        # everything, default recipes
    python benchmarks/learning_curves.py --models mlp --seeds 3 --threads 1
    python benchmarks/learning_curves.py --models dws --epochs 20 --seeds 1 --threads 1
    python benchmarks/learning_curves.py --models gnn transformer --sizes 1000 --epochs 5 --seeds 1
    python benchmarks/learning_curves.py --epochs 30 gnn=10 --seeds 3 dws=1   # per-model overrides
    python benchmarks/learning_curves.py --plot-only                       # redraw from the documents

For each training size ``N`` in ``--sizes`` the dataset is cut with :func:`arena.subset.subset`
to ``N`` train, ``--val`` val and ``--test`` test NeFs (seed ``--seed``); a subset already in
the local store (``$ARENA_HOME``) with the same parent, sizes and seed is reused. The subset
draws each split with ``default_rng([seed, split number])``, so every size shares the same val
and test NeFs; that is checked (source indices, labels and parameter bytes) before anything
trains.

Each model runs protocol v1 (:func:`arena.eval.evaluate`) with its own ``HPARAMS`` recipe;
``--epochs`` and ``--seeds`` override it, for all models (``--epochs 20``) or one
(``--epochs gnn=5``); ``--micro-batch-size transformer=32`` runs a model's batches in chunks
(the same updates in a fraction of the memory: the transformer's batch of 128 Neural MNIST
graphs needs ~13 GB at once). The ``arena-result/1`` documents go to
``OUT/results/<train size>/baseline-<model>.json``; a (model, size) whose document exists is
skipped, and one in progress keeps the harness's checkpoint in ``$ARENA_HOME/runs``, so an
interrupted run resumes where it stopped. The table (``OUT/table.md``, also printed) and the plot
(``OUT/learning_curves.png``) are drawn from the documents under ``OUT/results`` alone: the
epochs, seeds and seconds per epoch they show are the ones the documents record.
``--plot-only`` redraws both without training.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PAPER = {  # test accuracy % on the full training set, Papa et al. 2024 (docs/design.md §6)
    "neural_mnist": {"gnn": 96.40, "dws": 93.51, "transformer": 95.08},
    "neural_cifar10": {"gnn": 39.83, "dws": 44.01, "transformer": 44.11},
    "neural_microimagenet": {"gnn": 25.08, "dws": 28.61, "transformer": 28.50},
    "neural_shapenet": {"gnn": 82.96, "dws": 91.06, "transformer": 90.31},
}
MODELS = ("mlp", "dws", "gnn", "transformer")
LABELS = {"mlp": "MLP", "dws": "DWS", "gnn": "GNN", "transformer": "Transformer"}
EVAL_SPLITS = ("val", "test")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "curves"


class CurveError(Exception):
    """A problem with the inputs or the documents, said in one line."""


# ----------------------------------------------------------------------------- subsets

def make_subsets(dataset: str | Path, sizes: Sequence[int], *, val: int, test: int, seed: int = 0) -> dict[int, Path]:
    """``{train size: subset directory}``, reusing a matching subset from the local store.

    Raises:
        CurveError: the subsets do not share their val and test NeFs (:func:`check_same_eval_splits`).
    """
    from arena import format as fmt
    from arena import hub
    from arena.subset import subset

    parent = fmt.open_dataset(hub.resolve(str(dataset)))
    roots = {}
    for size in sizes:
        wanted = {"train": int(size), "val": val, "test": test}
        found = find_subset(parent.manifest.name, parent.manifest_sha256, wanted, seed)
        roots[int(size)] = found if found is not None else subset(parent.root, wanted, seed=seed)
    check_same_eval_splits(roots.values())
    return roots


def find_subset(name: str, parent_sha256: str, sizes: Mapping[str, int], seed: int) -> Path | None:
    """A complete subset of ``name`` in the local store drawn with ``sizes`` and ``seed``, or None."""
    from arena import format as fmt
    from arena import hub
    from arena.subset import SUFFIX

    folder = hub.home() / "datasets" / (name + SUFFIX)
    for manifest_path in sorted(folder.glob("*/arena.json")):
        try:
            builder = fmt.Manifest.load(manifest_path.parent).to_dict()["builder"]
        except Exception:  # noqa: BLE001 - anything unreadable is simply not a match
            continue
        if (builder.get("name") == "subset" and builder.get("seed") == seed
                and builder.get("of", {}).get("manifest_sha256") == parent_sha256
                and builder.get("sizes") == dict(sizes)):
            return manifest_path.parent
    return None


def eval_split_fingerprint(root: str | Path) -> dict[str, tuple]:
    """Per eval split: (source indices, labels, sha256 of the parameter bytes)."""
    from arena import format as fmt

    out = {}
    for split in EVAL_SPLITS:
        arrays = fmt.read_split(root, split)
        params = np.ascontiguousarray(np.asarray(arrays.params))
        out[split] = (tuple(int(i) for i in arrays.index), tuple(int(y) for y in arrays.label),
                      hashlib.sha256(params.tobytes()).hexdigest())
    return out


def check_same_eval_splits(roots: Sequence[str | Path] | Any) -> None:
    """Raise :class:`CurveError` unless every subset in ``roots`` holds the same val and test NeFs."""
    roots = list(roots)
    if not roots:
        return
    first = eval_split_fingerprint(roots[0])
    for root in roots[1:]:
        other = eval_split_fingerprint(root)
        for split in EVAL_SPLITS:
            if other[split] != first[split]:
                raise CurveError(f"The {split} split of {root} differs from that of {roots[0]}: the sizes must "
                                 "share their val and test NeFs (same parent, seed, val and test sizes).")


# ----------------------------------------------------------------------------- runs

def parse_overrides(values: Sequence[str] | None, what: str, models: Sequence[str]) -> dict[str, int | None]:
    """``["20", "gnn=5"]`` -> ``{model: value or None}``: a bare number for all, ``model=N`` for one."""
    bare: dict[str, int] = {}
    one: dict[str, int] = {}
    for value in values or ():
        model, _, number = value.rpartition("=")
        if model and model not in models:
            raise CurveError(f"--{what} {value}: {model!r} is not among --models ({' '.join(models)}).")
        n = int(number) if number.isdigit() else 0
        if n < 1:
            raise CurveError(f"--{what} {value}: give a positive integer, for all models (20) or one (gnn=5).")
        if model:
            one[model] = n
        else:
            bare = {m: n for m in models}
    out: dict[str, int | None] = {m: None for m in models}
    out.update(bare)
    out.update(one)  # a per-model value wins over the bare one, whatever their order
    return out


def result_path(out: Path, size: int, model: str) -> Path:
    """Where the document of ``model`` trained on ``size`` NeFs goes."""
    return Path(out) / "results" / str(size) / f"baseline-{model}.json"


def run(roots: Mapping[int, Path], models: Sequence[str], out: Path, *, epochs: Mapping[str, int | None],
        seeds: Mapping[str, int | None], threads: int | None = None,
        micro_batch_size: Mapping[str, int | None] | None = None,
        log: Callable[[str], None] = print) -> list[Path]:
    """Evaluate every (model, size) without a document yet; return the documents written."""
    from arena.eval import evaluate, result
    from arena.eval._checkpoint import default_root
    from arena.eval.harness import discard_checkpoint

    checkpoints = default_root()
    micro_batch_size = micro_batch_size or {}

    written = []
    for size, root in sorted(roots.items()):
        for model in models:
            path = result_path(out, size, model)
            if path.exists():
                _check_same_dataset(path, root)
                log(f"{model} at {size}: {path} exists, skipped")
                continue
            extra = {} if seeds.get(model) is None else {"seeds": seeds[model]}

            def line(e, model=model, size=size):
                log(f"  {model} at {size}: seed {e['seed']} epoch {e['epoch']}: val {100 * e['val_accuracy']:.2f}% "
                    f"({e['samples_per_second']:,.0f} NeFs/s)")

            doc = evaluate(f"baseline:{model}", root, epochs=epochs.get(model), threads=threads,
                           micro_batch_size=micro_batch_size.get(model), progress=line,
                           checkpoints=checkpoints, **extra)
            result.write(doc, path)
            discard_checkpoint(checkpoints, doc)
            s = doc["summary"]
            log(f"{model} at {size}: test {100 * s['test_mean']:.2f}% -> {path}")
            written.append(path)
    return written


def _check_same_dataset(path: Path, root: Path) -> None:
    from arena import format as fmt

    recorded = json.loads(path.read_text())["dataset"]["manifest_sha256"]
    if recorded != fmt.open_dataset(root).manifest_sha256:
        raise CurveError(f"{path} was evaluated on another dataset than {root} (manifest sha256 differs); "
                         "delete it to evaluate again.")


# ----------------------------------------------------------------------------- documents

def load_results(out: Path) -> dict[str, dict[int, dict[str, Any]]]:
    """``{model: {train size: document}}`` from ``out/results``, validated and checked for consistency.

    Raises:
        CurveError: a document is invalid, sits under a size it was not trained on, or the
            documents disagree on the dataset they were cut from, the val/test sizes or the seed.
    """
    from arena.eval import result

    found: dict[str, dict[int, dict[str, Any]]] = {}
    evals = set()
    for path in sorted((Path(out) / "results").glob("*/baseline-*.json")):
        try:
            doc = result.load(path)
        except Exception as exc:  # noqa: BLE001 - JSON and schema errors: name the file
            raise CurveError(f"{path}: {str(exc).splitlines()[0]}") from None
        n = doc["dataset"]["num_examples"]
        if str(n["train"]) != path.parent.name:
            raise CurveError(f"{path} was trained on {n['train']} NeFs, not {path.parent.name}; move or delete it.")
        model = doc["model"]["name"].removeprefix("baseline:")
        if path.stem != f"baseline-{model}":
            raise CurveError(f"{path} holds the result of {doc['model']['name']}, not of {path.stem}; "
                             "move or delete it.")
        # the subset's version without its train size: the parent's version, val and test sizes and seed
        evals.add((_parent_name(doc), re.sub(r"(?<=[+.])train\d+\.", "", doc["dataset"]["version"])))
        found.setdefault(model, {})[int(n["train"])] = doc
    if len(evals) > 1:
        raise CurveError(f"The documents under {Path(out) / 'results'} mix datasets, val/test sizes or seeds "
                         f"({sorted(evals)}); keep one set.")
    return found


def _parent_name(doc: Mapping[str, Any]) -> str:
    return doc["dataset"]["name"].removesuffix("_subset")


def _ordered(models) -> list[str]:
    return sorted(models, key=lambda m: (MODELS.index(m) if m in MODELS else len(MODELS), m))


def _per_size(values: Sequence[str]) -> str:
    """One value if all sizes agree, else each size's, separated by slashes."""
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def table(results: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> str:
    """The Markdown table: test accuracy per model and size, the recipe the documents record, the paper."""
    sizes = sorted({size for by_size in results.values() for size in by_size})
    if not sizes:
        raise CurveError("No result documents to tabulate; run without --plot-only first.")
    any_doc = next(iter(next(iter(results.values())).values()))
    parent, n = _parent_name(any_doc), any_doc["dataset"]["num_examples"]
    paper = PAPER.get(parent, {})
    head = ["model", *(f"{s:,}" for s in sizes), "epochs × seeds", "s / epoch", "paper (full train)"]
    lines = [
        f"Test accuracy (%) on {parent} subsets: train size in the columns, the same {n['val']:,} val and "
        f"{n['test']:,} test NeFs for every size; protocol v1 (best-val checkpoint); mean ± sample std over "
        "seeds. Epochs, seeds and seconds per training epoch are read from the result documents "
        "(per size, smallest first, when they differ).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    for model in _ordered(results):
        docs = results[model]
        cells, recipe, seconds = [], [], []
        for size in sizes:
            doc = docs.get(size)
            if doc is None:
                cells.append("—")
                continue
            cells.append(accuracy_cell(doc))
            recipe.append(f"{doc['protocol']['settings']['epochs']} × {len(doc['seeds'])}")
            seconds.append(f"{np.mean([r['epoch_seconds'] for r in doc['seeds']]):.2f}")
        ref = paper.get(model)
        row = [LABELS.get(model, model), *cells, _per_size(recipe), _per_size(seconds),
               "—" if ref is None else f"{ref:.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    # documents written before the harness said "1 thread" read "1 threads": the same device
    devices = sorted({d["environment"]["device"].replace(" 1 threads)", " 1 thread)")
                      for docs in results.values() for d in docs.values()})
    lines += ["", f"Device: {'; '.join(devices)}. Redraw from the documents in results/: "
              "`python benchmarks/learning_curves.py --plot-only`."]
    mixed = _mixed_builds(results, sizes)
    if mixed:
        lines += ["", f"Not one build per size: {mixed} (subset manifest sha256 prefixes; the same recipe, "
                      "val/test draw and seed, cut from different builds of the parent)."]
    return "\n".join(lines) + "\n"


def _mixed_builds(results: Mapping[str, Mapping[int, Mapping[str, Any]]], sizes: Sequence[int]) -> str:
    """For each size whose documents name more than one dataset manifest: which models ran on which."""
    parts = []
    for size in sizes:
        on: dict[str, list[str]] = {}
        for model in _ordered(results):
            doc = results[model].get(size)
            if doc is not None:
                on.setdefault(doc["dataset"]["manifest_sha256"][:8], []).append(LABELS.get(model, model))
        if len(on) > 1:
            parts.append(f"at {size:,}, " + "; ".join(f"{', '.join(m)} on {sha}" for sha, m in on.items()))
    return "; ".join(parts)


def accuracy_cell(doc: Mapping[str, Any]) -> str:
    """``"93.12 ± 0.40"``, or ``"91.20 (1 seed)"`` when there is no spread to give."""
    s = doc["summary"]
    if s["test_std"] is None:
        return f"{100 * s['test_mean']:.2f} (1 seed)"
    return f"{100 * s['test_mean']:.2f} ± {100 * s['test_std']:.2f}"


def plot(results: Mapping[str, Mapping[int, Mapping[str, Any]]], out: Path) -> Path:
    """Test accuracy against training-set size (log x) with sample-std error bars; the paper's
    full-size numbers as dashed lines, chance as a dotted one. The PNG carries no software version
    or date, so unchanged documents redraw the same bytes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sizes = sorted({size for by_size in results.values() for size in by_size})
    if not sizes:
        raise CurveError("No result documents to plot; run without --plot-only first.")
    any_doc = next(iter(next(iter(results.values())).values()))
    parent, n = _parent_name(any_doc), any_doc["dataset"]["num_examples"]
    paper = PAPER.get(parent, {})
    fig, ax = plt.subplots(figsize=(8, 5))
    for model in _ordered(results):
        docs = results[model]
        xs = sorted(docs)
        mean = [100 * docs[x]["summary"]["test_mean"] for x in xs]
        std = [100 * (docs[x]["summary"]["test_std"] or 0.0) for x in xs]
        recipe = _per_size([f"{docs[x]['protocol']['settings']['epochs']} ep × {len(docs[x]['seeds'])} seed"
                            + ("s" if len(docs[x]["seeds"]) > 1 else "") for x in xs])
        color = f"C{MODELS.index(model)}" if model in MODELS else None
        ax.errorbar(xs, mean, yerr=std, color=color, marker="o", capsize=4,
                    label=f"{LABELS.get(model, model)} ({recipe})")
        if model in paper:
            ax.axhline(paper[model], color=color, linestyle="--", linewidth=1,
                       label=f"{LABELS.get(model, model)}, paper, full train set ({paper[model]:.2f})")
    chance = 100 / any_doc["dataset"]["num_classes"]
    ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label=f"chance ({chance:.0f})")
    ax.set_ylim(0, 100)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.set(xlabel="training NeFs (log scale)", ylabel="test accuracy (%)",
           title=f"{parent}: test accuracy vs training-set size\n"
                 f"(same {n['val']:,} val / {n['test']:,} test NeFs; error bars: sample std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return out


# ----------------------------------------------------------------------------- command

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="neural_mnist", help="the full dataset to cut (name or directory)")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 4000, 16000], help="training set sizes")
    parser.add_argument("--val", type=int, default=1000, help="val NeFs, the same for every size")
    parser.add_argument("--test", type=int, default=2000, help="test NeFs, the same for every size")
    parser.add_argument("--seed", type=int, default=0, help="the subsets' draw seed")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="baseline names")
    parser.add_argument("--epochs", nargs="+", help="override HPARAMS epochs: N for all, MODEL=N for one")
    parser.add_argument("--seeds", nargs="+", help="run seeds 0..S-1 (default 3): S for all, MODEL=S for one")
    parser.add_argument("--micro-batch-size", nargs="+",
                        help="forward/backward in chunks of this many examples: N for all, MODEL=N for one")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="glibc keeps freed memory for reuse (eval_baselines.keep_freed_memory): less system "
                             "time for the graph baselines' big activations, a resident size at its peak")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results/, table.md and the PNG go here")
    parser.add_argument("--plot-only", action="store_true", help="redraw table and plot from OUT/results only")
    args = parser.parse_args(argv)
    if args.keep_freed_memory:
        from eval_baselines import keep_freed_memory

        keep_freed_memory()
    try:
        if not args.plot_only:
            from arena.baselines import NAMES

            unknown = [m for m in args.models if m not in NAMES]
            if unknown:
                raise CurveError(f"--models: unknown baseline {unknown[0]!r}; choose from {', '.join(NAMES)}.")
            bad = [s for s in args.sizes if s < 1]
            if bad:
                raise CurveError(f"--sizes {bad[0]}: give positive numbers of training NeFs.")
            epochs = parse_overrides(args.epochs, "epochs", args.models)
            seeds = parse_overrides(args.seeds, "seeds", args.models)
            micro = parse_overrides(args.micro_batch_size, "micro-batch-size", args.models)
            roots = make_subsets(args.dataset, args.sizes, val=args.val, test=args.test, seed=args.seed)
            print("subsets (val/test NeFs identical across sizes): "
                  + ", ".join(f"{s}: {r}" for s, r in roots.items()), flush=True)
            run(roots, args.models, args.out, epochs=epochs, seeds=seeds, threads=args.threads,
                micro_batch_size=micro, log=lambda m: print(m, flush=True))
        results = load_results(args.out)
        text = table(results)
        (args.out / "table.md").write_text(text)
        png = plot(results, args.out / "learning_curves.png")
    except KeyboardInterrupt as exc:  # the harness's Interrupted says where the run stands
        print(str(exc) or "Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback, for every expected failure
        from arena.errors import ArenaError

        if not isinstance(exc, CurveError | ArenaError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(text, end="")
    print(f"table: {args.out / 'table.md'}\nplot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
