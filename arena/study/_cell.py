"""One cell of a sweep (or one trial of a search): fit a neural dataset, measure it, evaluate models.

A cell's directory holds ``dataset/`` (a complete Arena dataset, built by the recipe's builder
with the cell's overrides, so they are recorded in its manifest), ``results/<model>.json``
(``arena-result/1`` documents) and ``cell.json``, its record, written last. Each step reuses
what a killed run left complete: the builder resumes from its shards, a finished dataset is not
built again, and a result document already written is not evaluated again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, ConfigError
from arena.study.config import SPLITS, Cell, DatasetSpec, ModelRun

RECORD = "cell.json"
DATASET = "dataset"
RESULTS = "results"

Phase = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class CellOptions:
    """How a cell runs, beyond what defines it: NMI settings, the eval device and threads."""

    nmi_seed: int = 0
    nmi_n_init: int = 10
    device: str = "cpu"
    threads: int | None = None


def run(cell: Cell, models: Sequence[ModelRun], root: Path, options: CellOptions, *,
        phase: Phase = lambda _: None) -> dict[str, Any]:
    """Run ``cell`` in directory ``root`` and return its record (also written to ``root/cell.json``).

    The record's ``status`` is ``"done"``, or ``"failed"`` with ``reason`` (one line: the fit
    diverged, a model file failed) and ``failed_phase``; the numbers measured before the failure
    are kept. ``phase`` is called with ``"fit"``, ``"nmi"``, ``"eval NAME"`` as the cell moves on.
    Errors that are not the Arena's (bugs) propagate.
    """
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    record: dict[str, Any] = {"cell": cell.id, "status": "done", "reason": None, "failed_phase": None,
                              "values": dict(cell.values), "overrides": dict(cell.overrides),
                              "settings": resolved_settings(cell),
                              "dataset": {**cell.dataset.identity(), "path": DATASET}, "models": {}}
    try:
        phase("fit")
        record["fit"] = _fit(cell, root / DATASET)
        record["dataset"].update(_dataset_facts(root / DATASET))
        phase("nmi")
        record["nmi"] = _nmi(root / DATASET, options)
    except ArenaError as exc:
        record.update(status="failed", reason=_one_line(exc), failed_phase=_stopped_in(record))
    if record["status"] == "done":
        for model in models:
            if not model.applies_to(record["settings"]):
                only = ", ".join(f"{k} in {list(v)}" for k, v in model.only)
                record["models"][model.name] = {"status": "skipped", "ref": model.ref, "reason": f"only where {only}"}
                continue
            phase(f"eval {model.name}")
            entry = _evaluate(model, root, options, phase)
            record["models"][model.name] = entry
            if entry["status"] == "failed" and record["status"] == "done":
                record.update(status="failed", reason=entry["reason"], failed_phase=f"eval {model.name}")
    record["seconds"] = round(time.perf_counter() - started, 3)
    write_json(root / RECORD, record)
    return record


def _stopped_in(record: Mapping[str, Any]) -> str:
    """The phase a record stopped in: the first of fit, nmi that it has no numbers for."""
    return "fit" if "fit" not in record else "nmi"


def resolved_settings(cell: Cell) -> dict[str, Any]:
    """Every setting of the cell's recipe after its overrides (``arch``, ``hidden``, ``steps``, ...)."""
    import arena_builders

    return arena_builders.recipe(cell.dataset.recipe).with_overrides(dict(cell.overrides)).settings()


def sized(recipe, dataset: DatasetSpec):
    """``(recipe, limit)`` that build the first ``dataset.sizes`` examples of each split.

    The largest size is the builder's ``limit``; the recipe's split function cuts the smaller
    splits. The train split's normalisation statistics are then the whole train split's, as in
    the published dataset, unless train is not the largest size (then they are the cut train's).
    The builder records the cut (``source.split_sizes``) and the limit, and versions the result.
    """
    sizes = dict(dataset.sizes)
    if not sizes:
        return recipe, None
    limit = max(sizes.values())
    whole = recipe.splits

    def cut(source):
        splits = whole(source)
        for split, n in sizes.items():
            if n > len(splits[split]):
                raise ConfigError(f"dataset {dataset.name}: {split} = {n}, but the {split} split of "
                                  f"{recipe.name} holds {len(splits[split])} examples of this source.")
        return {k: v[:sizes[k]] if sizes.get(k, limit) < limit else v for k, v in splits.items()}

    return dataclasses.replace(recipe, splits=cut), limit


def _fit(cell: Cell, out: Path) -> dict[str, Any]:
    """Build the cell's dataset unless ``out`` already holds it complete; its fit facts."""
    import arena_builders
    from arena import format as fmt
    from arena_builders._build import build

    built = (out / fmt.MANIFEST_NAME).is_file()
    t0 = time.perf_counter()
    if not built:
        recipe, limit = sized(arena_builders.recipe(cell.dataset.recipe), cell.dataset)
        source = cell.dataset.source
        source_path = None if source is None else source if source.startswith("hf://") else Path(source)
        build(recipe, source_path=source_path, out=out, limit=limit, overrides=dict(cell.overrides),
              progress=False)
    seconds = time.perf_counter() - t0
    manifest = fmt.open_dataset(out).manifest
    count = sum(manifest.num_examples(s) for s in manifest.splits)
    return {"metrics": manifest.metrics, "steps": manifest.fit["steps"],
            "nefs": count, "seconds": round(seconds, 3) if not built else None,
            "reused": built}


def _dataset_facts(root: Path) -> dict[str, Any]:
    from arena import format as fmt

    m = fmt.open_dataset(root).manifest
    return {"dataset_name": m.name, "version": m.version, "num_params": m.num_params,
            "num_examples": {s: m.num_examples(s) for s in SPLITS}}


def _nmi(root: Path, options: CellOptions) -> dict[str, Any]:
    """NMI and class distances of the train split's parameter vectors."""
    from arena import format as fmt
    from arena import metrics

    t0 = time.perf_counter()
    files = fmt.open_dataset(root)
    train = fmt.read_split(files, "train", mmap=False)
    classes = files.manifest.num_classes
    value = metrics.nmi(train.params, train.label, num_classes=classes, seed=options.nmi_seed,
                        n_init=options.nmi_n_init)
    dist = metrics.class_distances(train.params, train.label, seed=options.nmi_seed)
    return {"train": round(value, 6), "k": classes, "seed": options.nmi_seed, "n_init": options.nmi_n_init,
            "distance_within": round(dist.within, 6), "distance_between": round(dist.between, 6),
            "distance_sample": dist.sample_size, "seconds": round(time.perf_counter() - t0, 3)}


def _evaluate(model: ModelRun, root: Path, options: CellOptions, phase: Phase) -> dict[str, Any]:
    """Protocol v1 of ``model`` on the cell's dataset, reusing a result already written."""
    from arena.eval import result

    path = root / RESULTS / f"{model.name}.json"
    entry: dict[str, Any] = {"ref": model.ref, "result": f"{RESULTS}/{model.name}.json"}
    t0 = time.perf_counter()
    try:
        document = result.load(path) if path.is_file() else None
        if document is not None and (document["model"]["sha256"] != _model_sha256(model.ref)
                                     or document["protocol"]["seeds"] != model.seeds):
            document = None  # written by another version of the model file: evaluate again
        if document is None:
            document = _run_protocol(model, root / DATASET, options, phase)
            result.write(document, path)
    except ArenaError as exc:
        return {**entry, "status": "failed", "reason": _one_line(exc)}
    summary = document["summary"]
    seeds = document["seeds"]
    return {**entry, "status": "done", "val_mean": summary["val_mean"], "test_mean": summary["test_mean"],
            "test_std": summary["test_std"], "seeds": summary["num_seeds"],
            "epochs": document["protocol"]["settings"]["epochs"],
            "epoch_seconds": sum(s["epoch_seconds"] for s in seeds) / len(seeds),
            "train_examples": document["dataset"]["num_examples"]["train"],
            "seconds": round(time.perf_counter() - t0, 3)}


def _model_sha256(ref: str) -> str | None:
    """sha256 of the model file ``ref`` names (a baseline's module file), as results record it."""
    import hashlib
    import importlib.util

    from arena.eval import modelfile

    if ref.startswith(modelfile.BASELINE_PREFIX):
        spec = importlib.util.find_spec(f"arena.baselines.{ref[len(modelfile.BASELINE_PREFIX):]}")
        path = Path(spec.origin) if spec is not None and spec.origin else None
    else:
        path = Path(ref)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None
    except OSError:
        return None


def _run_protocol(model: ModelRun, dataset: Path, options: CellOptions, phase: Phase) -> dict[str, Any]:
    from arena.eval import evaluate

    def report(epoch: Mapping[str, Any]) -> None:
        phase(f"eval {model.name} seed {epoch['seed']} epoch {epoch['epoch']} "
              f"(val {100 * epoch['val_accuracy']:.1f}%)")

    return evaluate(model.ref, dataset, seeds=model.seeds, epochs=model.epochs, batch_size=model.batch_size,
                    lr=model.lr, weight_decay=model.weight_decay, device=options.device,
                    threads=options.threads, progress=report)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (a temporary file beside it, then a rename)."""
    from arena import format as fmt

    return fmt.write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode())


def read_record(root: Path) -> dict[str, Any] | None:
    """The record in ``root/cell.json``, or ``None`` when there is none (or it is unreadable)."""
    try:
        return json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
