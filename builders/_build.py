"""The build engine: source -> fitted shards -> manifest and dataset card, resumable."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import shlex
import subprocess
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from arena import format as fmt
from arena import hub
from arena.errors import ConfigError
from arena.sources import open_source, shape_points
from arena_builders import _card
from arena_builders._recipe import Recipe, version_with

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Plan:
    """A recipe resolved against its source: what exactly will be built, and where."""

    recipe: Recipe
    version: str
    out: Path
    positions: dict[str, np.ndarray]
    changes: dict[str, Any]


def plan(recipe: Recipe, source, *, out=None, limit: int | None = None, overrides=None) -> Plan:
    overrides = dict(overrides or {})
    recipe = recipe.with_overrides(overrides)
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of examples per split; got {limit}.")
    if recipe.shard_size < 1 or recipe.steps < 1:
        raise ConfigError(f"shard_size and steps must be >= 1; got {recipe.shard_size}, {recipe.steps}.")
    positions = {k: np.asarray(v, np.int64) for k, v in recipe.splits(source).items()}
    if limit is not None:
        positions = {k: v[:limit] for k, v in positions.items()}
    changes = {**recipe.settings(), "limit": limit}
    base = {**Recipe.settings(_published(recipe)), "limit": None}
    changes = {k: v for k, v in changes.items() if base.get(k, object()) != v}
    version = version_with(recipe.version, changes)
    out = Path(out) if out is not None else hub.local_path(recipe.name, version)
    return Plan(recipe, version, out, positions, changes)


def _published(recipe: Recipe) -> Recipe:
    from arena_builders import RECIPES

    return RECIPES[recipe.name.removeprefix("neural_")]


def build(
    recipe: Recipe,
    *,
    source_path=None,
    out=None,
    limit: int | None = None,
    overrides=None,
    progress: bool = True,
    download: bool = False,
    command: str = "",
) -> Path:
    """Build ``recipe`` into a complete dataset directory and return its path.

    ``download`` lets sources that can (MNIST, CIFAR-10) fetch their official files into the
    local store when ``source_path`` is not given. Shards already complete in ``out`` are kept (a killed build resumes where it stopped); the
    result is byte-identical to an uninterrupted build on the same machine.
    """
    from arena import fields, fit

    source = open_source(recipe.source, source_path, **({"download": True} if download else {}))
    p = plan(recipe, source, out=out, limit=limit, overrides=overrides)
    r = p.recipe
    image = r.kind == "image"
    shape = tuple(source.signal["shape"]) if image else None
    field = fields.make(r.arch, **r.hparams, in_dim=2 if image else 3, out_dim=shape[2] if image else 1)
    task = (fit.ImageTask(*shape, *_image_stats(source, p.positions["train"])) if image
            else fit.ShapeTask(points_per_step=r.points_per_step))
    fit.make_config(steps=r.steps, lr=r.lr, optimizer=r.optimizer, weight_decay=r.weight_decay,
                    init=r.init, seed=r.seed)  # refuse bad settings before writing anything
    layout = field.layout()
    p.out.mkdir(parents=True, exist_ok=True)
    if r.init == "shared":
        fmt.write_init(p.out / fmt.INIT_NAME, fit.shared_init(field, r.seed))

    total = sum(len(v) for v in p.positions.values())
    shard_files: dict[str, list[str]] = {}
    with _Bar(total, f"building {r.name}", enabled=progress) as bar:
        for split in SPLITS:
            pos = p.positions[split]
            count = max(1, math.ceil(len(pos) / r.shard_size))
            names = [fmt.shard_name(split, i, count) for i in range(count)]
            shard_files[split] = names
            done = fmt.completed_shards(p.out, split, count, num_params=layout.num_params)
            for i, name in enumerate(names):
                chunk = pos[i * r.shard_size:(i + 1) * r.shard_size]
                if i in done:
                    bar.advance(len(chunk))
                    continue
                signals, labels, index = source.load(chunk)
                data = task.prepare(signals) if image else _shape_data(task, signals, index)
                result = fit.fit(field, task, data, steps=r.steps, lr=r.lr, optimizer=r.optimizer,
                                 weight_decay=r.weight_decay, init=r.init, seed=r.seed,
                                 indices=index, progress=bar.advance)
                fmt.write_shard(p.out / name, result.params, labels, index, result.metrics)

    manifest = _manifest(p, source, field, task, shard_files, command)
    fmt.Manifest(manifest).write(p.out)
    _card.write(p.out, manifest, r, source, field, task, p.positions["train"])
    return p.out


def _image_stats(source, train_positions: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the train split on the [0, 1] scale (streamed in blocks)."""
    total, sq, count = 0.0, 0.0, 0
    for lo in range(0, len(train_positions), 10_000):
        images, _, _ = source.load(train_positions[lo:lo + 10_000])
        x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        total, sq, count = total + x.sum(0), sq + (x * x).sum(0), count + x.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean * mean, 1e-12))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _points(mesh_and_seed):
    mesh, seed = mesh_and_seed
    return shape_points(mesh.vertices, mesh.faces, seed=seed)


def _shape_data(task, meshes, index) -> dict[str, np.ndarray]:
    """The point pools and held-out sets of a shard's meshes, sampled on every core."""
    jobs = list(zip(meshes, (int(i) for i in index)))
    workers = min(len(jobs), len(os.sched_getaffinity(0)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        sets = list(pool.map(_points, jobs))
    stack = {f: np.stack([getattr(s, f) for s in sets]) for f in sets[0]._fields}
    return task.prepare(**stack)


def _manifest(p: Plan, source, field, task, shard_files, command: str) -> dict[str, Any]:
    r = p.recipe
    splits = {split: fmt.split_entry(p.out, names) for split, names in shard_files.items()}
    metrics, params = _stats(p.out, shard_files, field.layout())
    manifest = {
        "format": fmt.FORMAT,
        "name": r.name,
        "version": p.version,
        "license": r.license,
        "citation": r.citation,
        "source": source.describe(),
        "signal": task.describe(),
        "field": {
            "arch": r.arch,
            "hparams": field.hparams(),
            "in_dim": field.in_dim,
            "out_dim": field.out_dim,
            "layout": field.layout().to_json(),
            "kernel": "in_out",
            "num_params": field.layout().num_params,
        },
        "fit": {
            "loss": "mse" if r.kind == "image" else "bce",
            "optimizer": r.optimizer,
            "lr": r.lr,
            "weight_decay": r.weight_decay,
            "steps": r.steps,
            "points_per_step": task.points_per_step,
            "init": {"kind": r.init, "seed": r.seed},
            "dtype": "float32",
            "versions": _versions(),
        },
        "splits": splits,
        "stats": {"metrics": metrics, "params": params},
        "builder": {
            "name": r.name.removeprefix("neural_"),
            "version": r.version,
            "revision": _revision(),
            "overrides": {k: v for k, v in p.changes.items()},
            "command": command,
        },
    }
    if r.init == "shared":
        manifest["init"] = fmt.file_entry(p.out, fmt.INIT_NAME)
    return manifest


def _stats(root: Path, shard_files, layout) -> tuple[dict, dict]:
    metrics = {}
    for split, names in shard_files.items():
        arrays = [fmt.shard_arrays(root / n) for n in names]
        keys = sorted(k for k in arrays[0] if k.startswith(fmt.METRIC_PREFIX))
        metrics[split] = {
            k.removeprefix(fmt.METRIC_PREFIX): round(float(np.concatenate([a[k] for a in arrays]).mean()), 4)
            for k in keys
        }
    sums = np.zeros(layout.num_params, np.float64)
    sq = np.zeros(layout.num_params, np.float64)
    n = 0
    for name in shard_files["train"]:
        x = np.asarray(fmt.shard_arrays(root / name)["params"], np.float64)
        sums, sq, n = sums + x.sum(0), sq + (x * x).sum(0), n + len(x)
    means, stds = [], []
    for entry, _ in layout:
        sl = layout.slice(entry)
        m = sums[sl].sum() / (n * (sl.stop - sl.start))
        means.append(round(float(m), 6))
        stds.append(round(float(np.sqrt(max(sq[sl].sum() / (n * (sl.stop - sl.start)) - m * m, 0.0))), 6))
    return metrics, {"per_layer_mean": means, "per_layer_std": stds, "layers": list(layout.names)}


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("neural-field-arena", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _revision() -> str:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        return f"git:{rev}"
    except (OSError, subprocess.SubprocessError):
        return f"neural-field-arena=={_versions().get('neural-field-arena', 'unknown')}"


def command_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


class _Bar:
    """One progress bar over the whole build (NeFs/s, ETA), fed by the fitter after each block."""

    def __init__(self, total: int, label: str, *, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[rate]} NeFs/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rate="-")
        return self

    def advance(self, k: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=k)
            speed = self._progress.tasks[0].speed
            self._progress.update(self._task, rate=f"{speed:,.0f}" if speed else "-")

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
