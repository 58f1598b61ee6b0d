"""The build engine: source -> fitted shards -> manifest and dataset card, resumable.

:func:`make` builds a dataset, or finds it already complete and does nothing; :func:`build` is
the same, returning only the directory. While it works it shows one labelled progress bar per
phase: the images' normalisation statistics, drawing the shapes' occupancy points, fitting, and
drawing the dataset card.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from arena import format as fmt
from arena import hub
from arena._progress import Display
from arena.errors import ConfigError, ManifestError
from arena.sources import open_source, shape_points
from arena_builders import _card, _distributed
from arena_builders._recipe import Recipe, version_with

SPLITS = ("train", "val", "test")
CODE_PATHS = ".arena-build-paths.json"  # an unfinished build's code paths (removed before the manifest)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A recipe resolved against its source: what exactly will be built, and where.

    ``positions`` are the (limited) examples to fit; ``full_train`` the whole train split, whose
    statistics normalise the images whatever ``--limit`` is.
    """

    recipe: Recipe
    version: str
    out: Path
    positions: dict[str, np.ndarray]
    full_train: np.ndarray
    changes: dict[str, Any]


def plan(recipe: Recipe, source, *, out=None, limit: int | None = None, overrides=None) -> Plan:
    overrides = dict(overrides or {})
    recipe = recipe.with_overrides(overrides)
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of examples per split; got {limit}.")
    if recipe.shard_size < 1 or recipe.steps < 1:
        raise ConfigError(f"shard_size and steps must be >= 1; got {recipe.shard_size}, {recipe.steps}.")
    positions = {k: np.asarray(v, np.int64) for k, v in recipe.splits(source).items()}
    full_train = positions["train"]
    sizes = {k: len(v) for k, v in positions.items()}
    if limit is not None:
        positions = {k: v[:limit] for k, v in positions.items()}
    changes = {**recipe.settings(), "limit": limit}
    base = {**Recipe.settings(_published(recipe)), "limit": None}
    changes = {k: v for k, v in changes.items() if base.get(k, object()) != v}
    if recipe.sizes and sizes != dict(recipe.sizes):
        # a subset or stand-in of the official source: a different dataset, so another version
        changes["source"] = {"revision": source.revision, "split_sizes": sizes}
    version = version_with(recipe.version, changes)
    out = Path(out) if out is not None else hub.local_path(recipe.name, version)
    return Plan(recipe, version, out, positions, full_train, changes)


def _published(recipe: Recipe) -> Recipe:
    from arena_builders import RECIPES

    return RECIPES[recipe.name.removeprefix("neural_")]


@dataclasses.dataclass(frozen=True)
class Built:
    """What :func:`make` did.

    ``fresh`` is False when ``path`` already held the complete dataset, so nothing was done;
    ``seconds`` is the wall time of the call (compilation included).
    """

    path: Path
    manifest: fmt.Manifest
    fresh: bool
    seconds: float

    def already_built(self) -> str:
        """The one line that says this dataset was already there, where, and how to rebuild it."""
        m = self.manifest
        return (f"{m.name} {m.version} is already built at {self.path}; nothing to do. To rebuild it, "
                "delete that directory and run the same command again (or build into another --out).")


def build(
    recipe: Recipe,
    *,
    source_path=None,
    out=None,
    limit: int | None = None,
    overrides=None,
    progress: bool = True,
    download: bool = False,
) -> Path:
    """Build ``recipe`` into a complete dataset directory and return its path (see :func:`make`)."""
    return make(recipe, source_path=source_path, out=out, limit=limit, overrides=overrides,
                progress=progress, download=download).path


def make(
    recipe: Recipe,
    *,
    source_path=None,
    out=None,
    limit: int | None = None,
    overrides=None,
    progress: bool = True,
    download: bool = False,
) -> Built:
    """Build ``recipe`` into a complete dataset directory, unless it is already there.

    ``download`` lets sources that can (MNIST, CIFAR-10) fetch their official files into the
    local store when ``source_path`` is not given. A directory that already holds this dataset
    complete (its ``arena.json``, written last, names this name and version) is left as it is
    (``Built.fresh`` is False); one that holds another dataset is refused. Shards already
    complete in ``out`` are kept (a killed build resumes where it stopped; shards of other
    examples are refused); the result is byte-identical to an uninterrupted build on the same
    machine. Two builds of the same directory never run at once: the second is refused
    (:class:`arena.hub.BusyError`). ``progress`` shows the bars (see the module docstring).
    Under ``jax.distributed`` with several processes, each fits whole shards and process 0 writes
    the manifest once all are written (:mod:`arena_builders._distributed`); same bytes.
    """
    t0 = time.perf_counter()
    recipe.with_overrides(dict(overrides or {}))  # settings no build can run: refused before any source is read
    if out is not None:
        check_out(out)
    revision = _revision()  # the code the build starts from, not whatever is checked out at its end
    source = open_source(recipe.source, source_path, **({"download": True} if download else {}))
    p = plan(recipe, source, out=out, limit=limit, overrides=overrides)
    members = _distributed.group()
    if members.count > 1:  # several processes under jax.distributed: each fits whole shards
        return _distributed.make(p, source, revision, progress, members, t0)
    done = _complete(p, source)
    if done is None:
        busy = (f"Another arena-build is writing {p.out} now; wait for it to finish (a rerun then resumes "
                "from its shards), or build into another --out.")
        with hub.lock(f"build {p.out.resolve()}", busy=busy):
            done = _complete(p, source)  # another build may have finished it while this one waited
            if done is None:
                with Display(progress) as bars:
                    _fit_and_write(p, source, revision, bars)
                return Built(p.out, fmt.Manifest.load(p.out), True, time.perf_counter() - t0)
    return Built(p.out, done, False, time.perf_counter() - t0)


# What a build writes into its directory (a rerun resumes among them), and the card's two files,
# which are a build's only beside one of the others (a user's folder may hold a README.md of its own).
_BUILD_FILES = frozenset({fmt.MANIFEST_NAME, fmt.INIT_NAME, CODE_PATHS})
_CARD_FILES = frozenset({"README.md", _card.GRID_NAME})
_SHARD_FILE = re.compile(r"^[a-z0-9][a-z0-9_]*-\d{5}-of-\d{5}\.safetensors$")
_INCOMPLETE = re.compile(r"(\.[0-9a-f]{12})?" + re.escape(fmt.INCOMPLETE_SUFFIX) + "$")  # fmt.incomplete_path


def check_out(out) -> None:
    """Refuse an ``out`` where a build would overwrite or mix with files it did not write.

    ``out`` (links followed) must be new, empty, or hold only what a build writes there (so a
    killed build resumes, and a finished one is found complete); it may not be a file, be or
    hold the local store, nor lie inside a dataset (a folder with ``arena.json`` above it).

    Raises:
        ConfigError: in one line, naming what is in the way.
    """
    target = Path(out).expanduser().resolve()
    fix = "Pass a new or empty directory, or no --out to build into the local store."
    hub.check_output_place(target, out, fix)
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory. {fix}")
    foreign = _foreign_file(target)
    if foreign is not None:
        raise ConfigError(f"--out {out} already holds {foreign!r}, which a build does not write; a build "
                          f"there could overwrite or mix with it. Move it away to build there, or pass a new "
                          f"or empty directory (or no --out, for the local store).")


def _foreign_file(root: Path) -> str | None:
    """The first entry of ``root`` (or of its ``data/``) that a build does not write, else ``None``.

    Judged by name first, so a build writing there at the same time (another process of a group,
    or a second build that the lock will refuse) is not mistaken for a stranger; an entry that
    vanishes while this looks was a build's temporary file.
    """
    def own(name: str, names) -> bool:
        return name in names or _INCOMPLETE.sub("", name) in names

    def stranger(path: Path, ours: bool) -> bool:
        if ours:
            return False
        return path.exists() or path.is_symlink()  # gone since the listing: a build's temporary file

    data = root / "data"
    shards = sorted(data.iterdir()) if data.is_dir() and not data.is_symlink() else []
    for f in shards:
        if stranger(f, bool(_SHARD_FILE.match(_INCOMPLETE.sub("", f.name))) and not f.is_dir()):
            return f"data/{f.name}"
    entries = sorted(root.iterdir())
    marked = bool(shards) or any(own(e.name, _BUILD_FILES) for e in entries)
    for e in entries:
        if e == data and data.is_dir() and not data.is_symlink():
            continue
        ours = (own(e.name, _BUILD_FILES) or (marked and own(e.name, _CARD_FILES))) and not e.is_dir()
        if stranger(e, ours):
            return e.name
    return None


def _complete(p: Plan, source) -> fmt.Manifest | None:
    """The manifest of ``p.out`` when it holds this build's dataset complete, else ``None``; a
    directory that holds another dataset, or NeFs of other examples, is refused."""
    if not (p.out / fmt.MANIFEST_NAME).is_file():
        return None
    try:
        found = fmt.Manifest.load(p.out)
    except ManifestError as exc:
        raise ConfigError(f"{p.out} holds an unreadable {fmt.MANIFEST_NAME} ({exc}); build into another "
                          "--out, or delete that directory.") from None
    if (found.name, found.version) != (p.recipe.name, p.version):
        raise ConfigError(f"{p.out} already holds {found.name} {found.version}, not {p.recipe.name} "
                          f"{p.version}: NeFs of other examples or settings. Build into another --out, "
                          "or delete that directory.")
    for split in SPLITS:
        files = found["splits"].get(split, {}).get("files", [])
        held = [np.asarray(fmt.shard_arrays(p.out / f["path"])["index"]) for f in files]
        _check_resumable(p.out, np.concatenate(held) if held else np.zeros(0, np.int64),
                         source.index[p.positions[split]])
    return found


def _fit_and_write(p: Plan, source, revision: str, bars: Display,
                   members: _distributed.Group = _distributed.Group()) -> Path:
    """Fit the shards not yet complete in ``p.out``, then write the card and the manifest (last);
    in a group of processes, this process's share of them, and the manifest in process 0 only."""
    import jax

    from arena import fields, fit

    r = p.recipe
    image = r.kind == "image"
    shape = tuple(source.signal["shape"]) if image else None
    field = fields.make(r.arch, **r.hparams, in_dim=2 if image else 3, out_dim=shape[2] if image else 1)
    config = fit.make_config(steps=r.steps, lr=r.lr, optimizer=r.optimizer, weight_decay=r.weight_decay,
                             init=r.init, seed=r.seed)  # refuse bad settings before computing anything
    task = (fit.ImageTask(*shape, *_image_stats(source, p.full_train, bars)) if image
            else fit.ShapeTask(points_per_step=r.points_per_step))
    layout = field.layout()
    # one block size for the whole build (recorded): blocks never exceed a device's share of a shard
    devices = jax.local_devices()
    block = members.first("block", lambda: min(fit.chunk_per_device(field, task, None, devices[0]),
                                                 math.ceil(r.shard_size / len(devices))))
    # shapes: the labeller is resolved once, in process 0; every process and worker labels with it,
    # and one that cannot (no compiler for "exact-kernel", say) fails instead of labelling otherwise
    method = None if image else members.first("labeller", lambda: _labelling_method(None))
    p.out.mkdir(parents=True, exist_ok=True)

    shard_files: dict[str, list[str]] = {}
    todo = []  # (split, shard file, positions) of the shards still to fit
    for split in SPLITS:
        pos = p.positions[split]
        count = max(1, math.ceil(len(pos) / r.shard_size))
        names = [fmt.shard_name(split, i, count) for i in range(count)]
        shard_files[split] = names
        done = fmt.completed_shards(p.out, split, count, num_params=layout.num_params) if members.leads else set()
        for i, name in enumerate(names):
            chunk = pos[i * r.shard_size:(i + 1) * r.shard_size]
            if i in done:
                _check_resumable(p.out / name, np.asarray(fmt.shard_arrays(p.out / name)["index"]),
                                 source.index[chunk])
            else:
                todo.append((split, name, chunk))
    if members.leads:  # kept shards were fitted with the same code paths, or the build stops here
        resumed = sum(map(len, shard_files.values())) > len(todo)
        _same_code_paths(p.out, {"dataset": f"{r.name} {p.version}", "fit.dense": _dense_kind(field, task),
                                 "signal.labeller": method}, resumed)
    if r.init == "shared" and members.leads:  # after the checks: a refused resume changes nothing
        fmt.write_init(p.out / fmt.INIT_NAME, fit.shared_init(field, r.seed))
    todo = members.assign(todo)  # whole shards: process 0's list, split among the processes
    total = sum(len(chunk) for _, _, chunk in todo)
    drawn = None if image else bars.line("drawing occupancy points", total, "meshes", forward=False).advance
    fitted = bars.line(f"fitting {r.name}", total, "NeFs").advance
    for split, name, chunk in todo:
        signals, labels, index = source.load(chunk)
        fmt.check_labels(labels, source.num_classes, where=f"Source '{source.name}' (for {name})",
                         fix="Its labels disagree with its class count: check the raw files it reads.")
        data = task.prepare(signals) if image else _shape_data(task, signals, index, drawn, method)
        result = fit.fit(field, task, data, steps=r.steps, lr=r.lr, optimizer=r.optimizer,
                         weight_decay=r.weight_decay, init=r.init, seed=r.seed,
                         precision=config.precision, indices=index, chunk_size=block, distributed=False,
                         progress=fitted)
        _check_finite(name, result)
        fmt.write_shard(p.out / name, result.params, labels, index, result.metrics)
        members.wrote(p.out, name)
    if not members.gather(p.out):  # the others' shards are written and verified before the manifest
        return p.out

    manifest = _manifest(p, source, field, task, shard_files, block, config.precision, method)
    _card.write(p.out, manifest, r, source, field, task, p.positions["train"], revision=revision,
                progress=lambda total: bars.line("drawing the dataset card", total, "examples", forward=False).advance)
    (p.out / CODE_PATHS).unlink(missing_ok=True)  # this build's own note, done with
    fmt.Manifest(manifest).write(p.out)  # last: a directory with arena.json is complete
    return p.out


PATH_HINTS = {"dataset": "the recipe, --set and --limit decide it: other settings, other NeFs",
              "fit.dense": "ARENA_CPU_KERNELS and a C++ compiler decide it",
              "signal.labeller": "the labeller setting, libigl and a C++ compiler decide it"}


def _same_code_paths(out: Path, paths: dict, resumed: bool) -> None:
    """Note which dataset (name and version: its settings) and which code fits (and labels) this
    build's shards in ``out``; a resumed build whose note names another is refused: its kept shards
    would hold NeFs of other settings or other bits than the manifest records."""
    note = out / CODE_PATHS
    if resumed and note.is_file():
        try:
            before = json.loads(note.read_text())
        except (OSError, ValueError):
            before = None  # unreadable: no claim either way
        for key, value in paths.items():
            if isinstance(before, dict) and key in before and before[key] != value:
                raise ConfigError(
                    f"The shards already in {out} were made with {key} = {before[key]!r}, and this run "
                    f"would use {value!r} ({PATH_HINTS[key]}); they give different bits. Rerun with the "
                    "setting the build started with, or build into a new --out.")
    fmt.write_bytes_atomic(note, json.dumps(paths, sort_keys=True).encode())


def _check_resumable(path: Path, found: np.ndarray, expected_index: np.ndarray) -> None:
    """Refuse ``path`` (a shard, or a dataset) whose NeFs' source indices ``found`` are not the
    ones this build would put there."""
    if not np.array_equal(found, expected_index):
        raise ConfigError(
            f"'{path}' holds NeFs of other examples than this build would put there (another "
            "--limit, source or recipe?); build into a new --out directory, or delete it."
        )


def _check_finite(name: str, result) -> None:
    bad = ~np.isfinite(result.params).all(axis=1)
    if bad.any():
        raise ConfigError(
            f"{int(bad.sum())} NeF(s) of {name} diverged (non-finite parameters), e.g. source index "
            f"{int(result.indices[bad][0])}; lower lr with --set lr=..."
        )


def _image_stats(source, train_positions: np.ndarray,
                 bars: Display | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the train split on the [0, 1] scale (streamed in blocks;
    shown as a line of ``bars`` when given)."""
    total, sq, count = 0.0, 0.0, 0
    read = (bars or Display(False)).line("normalisation statistics", len(train_positions), "images", forward=False).advance
    for lo in range(0, len(train_positions), 10_000):
        images, _, _ = source.load(train_positions[lo:lo + 10_000])
        x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        total, sq, count = total + x.sum(0), sq + (x * x).sum(0), count + x.shape[0]
        read(len(images))
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean * mean, 1e-12))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _points(job):
    mesh, seed, method = job
    return shape_points(mesh.vertices, mesh.faces, seed=seed, labeller=method)


def _shape_data(task, meshes, index, drawn: Callable[[int], None],
                method: str | None = None) -> dict[str, np.ndarray]:
    """The point pools and held-out sets of a shard's meshes, sampled on every core; ``drawn``
    is called with 1 as each mesh's points are ready."""
    method = _labelling_method(method)  # the one the manifest names, in every worker
    jobs = [(mesh, int(i), method) for mesh, i in zip(meshes, index)]
    workers = min(len(jobs), len(os.sched_getaffinity(0)))
    sets = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for points in pool.map(_points, jobs):
            sets.append(points)
            drawn(1)
    stack = {f: np.stack([getattr(s, f) for s in sets]) for f in sets[0]._fields}
    return task.prepare(**stack)


def _manifest(p: Plan, source, field, task, shard_files, block: int, precision: str,
              method: str | None = None) -> dict[str, Any]:
    """The manifest: what the dataset is and how to rebuild it. It holds no code revision, so the
    same recipe rebuilt on the same platform gives the same bytes, and its sha256 can pin a
    release; the revision goes in the dataset card."""
    r = p.recipe
    splits = {split: fmt.split_entry(p.out, names) for split, names in shard_files.items()}
    metrics, params = fmt.dataset_stats(p.out, shard_files, field.layout())
    manifest = {
        "format": fmt.FORMAT,
        "name": r.name,
        "version": p.version,
        "license": r.license,
        "citation": r.citation,
        "source": source.describe(),
        "signal": _signal(task, method),
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
            "matmul_precision": precision,
            "block_size": block,
            "sine": _sine_kind(field),
            "dense": _dense_kind(field, task),
            "versions": _versions(),
        },
        "splits": splits,
        "stats": {"metrics": metrics, "params": params},
        "builder": {
            "name": r.name.removeprefix("neural_"),
            "version": r.version,
            "overrides": {k: v for k, v in p.changes.items()},
            "command": canonical_command(r.name, p.changes),
        },
    }
    if r.init == "shared":
        manifest["init"] = fmt.file_entry(p.out, fmt.INIT_NAME)
    return manifest



def _labelling_method(method: str | None) -> str:
    """The labeller implementation that shape points get (``"exact-kernel"``, ``"exact-numpy"``
    or ``"libigl"``): ``method`` resolved, by default ``arena.sources.shapes.LABELLER``."""
    from arena.sources import shapes
    from arena.sources._winding import implementation

    return implementation(method or shapes.LABELLER)


def _signal(task, method: str | None = None) -> dict[str, Any]:
    """The manifest's ``signal``: the task, and for shapes how points were drawn and labelled
    (by ``method``, resolved as :func:`_labelling_method` does)."""
    signal = task.describe()
    if task.kind == "shape":
        from arena.sources import shapes
        from arena.sources._winding import labeller

        signal["sampling"] = {
            "pool": {"uniform": shapes.NUM_UNIFORM, "near_surface": shapes.NUM_SURFACE},
            "eval": {"uniform": shapes.NUM_EVAL_UNIFORM, "near_surface": shapes.NUM_EVAL_SURFACE},
            "offgrid": {"uniform": shapes.NUM_OFFGRID},
            "near_surface_noise_std": shapes.NOISE_STD,
            "normalisation": f"bounding box centred, longest side scaled to 2 / (1 + {shapes.PADDING})",
            "occupancy": "generalised winding number > 0.5, after removing duplicated faces",
            "labeller": labeller(_labelling_method(method)),  # exact-kernel, exact-numpy, libigl-<v>
            "seed": "the shape's source index",
        }
    return signal


def _sine_kind(field) -> str:
    import jax

    kind = getattr(field, "sine", "auto")
    if kind == "auto":
        kind = "poly" if jax.default_backend() == "cpu" else "xla"
    return {"poly": "range-reduced polynomial (arena.fields.sinpi)", "xla": "jnp.sin"}[kind]


def _dense_kind(field, task) -> str:
    """Which code ran the sine layers' products: ``kernel`` (the compiled CPU kernel, with the
    fused SIREN step), ``pallas`` (the fused SIREN image step on a GPU) or ``xla``. They agree
    to float32 rounding, not bit for bit."""
    from arena.fields import _dense

    kind = getattr(field, "dense", None)
    if kind is None:
        return "xla"
    if task.kind == "image" and hasattr(field, "fused_mse"):
        from arena.fields import _pallas

        if _pallas.selected(kind):
            return "pallas"
    return "kernel" if kind != "pallas" and _dense.use_kernel(kind) else "xla"


def canonical_command(name: str, changes: dict[str, Any]) -> str:
    """The ``arena-build`` command that rebuilds this dataset (no local paths)."""
    parts = ["arena-build", name.removeprefix("neural_")]
    if changes.get("limit") is not None:
        parts += ["--limit", str(changes["limit"])]
    parts += [f"--set {k}={v}" for k, v in sorted(changes.items()) if k not in ("limit", "source")]
    return " ".join(parts)


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("neural-field-arena", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _revision() -> str:
    """The git commit of the Arena checkout this code runs from (``-dirty`` if modified), else
    the installed version."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() == here.parent:
            dirty = "-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
            return f"git:{git('rev-parse', 'HEAD')}{dirty}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"neural-field-arena=={_versions().get('neural-field-arena', 'unknown')}"
