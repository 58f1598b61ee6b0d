"""Other weight-space libraries: import fit-a-nef HDF5 neural datasets; export DWSNets / NFN tensors.

**Import** (:func:`import_hdf5`, ``arena import-hdf5 PATH``; needs h5py, the ``hdf5`` extra).
fit-a-nef (and the first Neural Field Arena, which read its output) stores a neural dataset as a
folder of HDF5 files ``<prefix>_<start>-<end>.hdf5``, one per block of NeFs ``start .. end - 1``,
each holding:

- ``params``: ``(n, P)`` float32, one flattened NeF per row;
- ``param_config``: a one-element string dataset with the JSON list ``[[name, shape], ...]``
  that gives the flattening order. Names are flax's, joined with ``.``
  (``kernel_net_0.linear.kernel``); within a layer the bias comes before the kernel (fit-a-nef's
  ``SIREN_key`` / ``RFFNet_key`` / ``FourierNet_key`` sort functions). Kernels are flax ``Dense``
  kernels, ``(in, out)``: the Arena's own ``in_out`` orientation, so no transposition is needed;
- ``labels``: ``(n,)`` integers (what the source dataset returned);

and next to them ``nef.json`` (``{"name": "SIREN", "params": {"hidden_dim", "num_layers",
"omega_0", ...}}``) and ``cfg.json`` (the fitting configuration, with ``dataset.name``).

The importer reorders each row into the Arena layout of the same architecture (SIREN ->
``siren``, RFFNet -> ``rffnet``, FourierNet -> ``mfn``; each architecture module of
:mod:`arena.nef` holds fit-a-nef's names for its tensors); the values are copied bit for bit, except
RFFNet's embedding, which fit-a-nef stores without its ``std`` factor (``x_proj = std * (2 pi x)
@ C``) and the Arena with it (``embedding.weight = std * C``). NeFs keep fit-a-nef's coordinate
grid, recorded as ``signal.grid = "linspace_xy"`` (pixel centres at ``linspace(-1, 1)``, axis
order (x, y)), which :meth:`arena.data.Split.render` follows. For MNIST, CIFAR10 and
MicroImageNet, the image size, the normalisation (fit-a-nef's ``MEAN_STD_IMAGE_DATASETS``) and
the first Neural Field Arena's split boundaries are known; other datasets need ``splits``.

**flax** (the ``flax`` extra): :func:`to_flax`, :func:`to_flax_params` and :func:`from_flax_params`
give a dataset's NeFs as flax linen modules and variables (:mod:`arena._flax`).

**Export** (numpy): :func:`to_dws` gives the dense ``layers.*`` stack in the layout of DWSNets and
neural-graphs (weights ``(B, in, out, 1)``, biases ``(B, out, 1)``), :func:`to_nfn` in the
layout of NFN (weights ``(B, C=1, out, in)``, biases ``(B, C=1, out)``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np

from arena import format as fmt
from arena import nef
from arena.errors import ConfigError, MissingFileError, ShardError, require
from arena.layout import Layout

PathLike = Union[str, os.PathLike]

_RANGE_RE = re.compile(r"_(\d+)-(\d+)$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

def _preset(dataset: str, shape: list[int], mean: list[float], std: list[float]) -> dict[str, Any]:
    """fit-a-nef's image size and normalisation of ``dataset``, with the Arena dataset's facts
    from :mod:`arena.catalog`: its name, class names, and its splits as row ranges of the
    concatenated NeF order (train, val, test: the first Neural Field Arena's boundaries)."""
    from arena import catalog

    facts = catalog.DATASETS[f"neural_{dataset}"]
    ends = np.cumsum(list(facts.sizes.values())).tolist()
    return {"name": facts.name, "source": dataset, "shape": shape, "mean": mean, "std": std,
            "classes": facts.classes,
            "splits": {s: (lo, hi) for s, lo, hi in zip(facts.sizes, [0, *ends[:-1]], ends)}}


# fit-a-nef's dataset names -> what the Arena needs to know about them: fit-a-nef's image size
# and normalisation (its MEAN_STD_IMAGE_DATASETS), and the dataset's facts (arena/catalog.py)
PRESETS: dict[str, dict[str, Any]] = {
    "mnist": _preset("mnist", [28, 28, 1], [0.13066047], [0.30810782]),
    "cifar10": _preset("cifar10", [32, 32, 3], [0.49186882, 0.48265392, 0.44717726],
                       [0.24697122, 0.24338895, 0.2615926]),
    "microimagenet": _preset("microimagenet", [64, 64, 3],
                             [0.4643375754356384, 0.4339415729045868, 0.38213176727294923],
                             [0.18949764454628706, 0.18707174788855566, 0.21445986703967326]),
}


# --------------------------------------------------------------------------------------------
# fit-a-nef parameter names -> Arena layouts


def _architectures() -> list[nef.Architecture]:
    """The registered architectures that fit-a-nef has a name for."""
    return [arch for arch in map(nef.get, nef.names()) if arch.foreign is not None]


def _arch_of(nef_name: str | None, names: Sequence[str]) -> str:
    """The Arena architecture of a fit-a-nef model: from nef.json's name, else from its tensor names."""
    if nef_name is not None:
        for arch in _architectures():
            if arch.foreign.name == nef_name:
                return arch.name
        known = ", ".join(f"{arch.foreign.name} (as {arch.name})" for arch in _architectures())
        raise ConfigError(
            f"fit-a-nef architecture '{nef_name}' has no Arena equivalent; the Arena imports {known}."
        )
    for arch in _architectures():
        if arch.foreign.claims(names):
            return arch.name
    raise ConfigError(f"Cannot tell the architecture from the parameter names {list(names)}.")


def _hparams(arch: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The Arena hyperparameters from nef.json's ``params`` (checked against the shapes later)."""
    try:
        hparams = _foreign(arch).hparams(params)
    except KeyError as exc:
        raise ConfigError(
            f"nef.json gives no {exc.args[0]!r}, which the Arena's {arch} needs; add it to nef.json "
            "(or pass it with --hparam)."
        ) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"nef.json's params (with any --hparam) hold a value the Arena's {arch} cannot read as a "
            f"number ({exc}); fix nef.json or pass --hparam KEY=NUMBER."
        ) from None
    bad = {k: v for k, v in hparams.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        key, value = next(iter(bad.items()))
        raise ConfigError(
            f"The Arena's {arch} hyperparameter {key!r} would be {value}, not a finite number; fix "
            "nef.json or pass --hparam KEY=NUMBER."
        )
    return hparams


def _foreign(arch: str) -> nef.Foreign:
    foreign = nef.get(arch).foreign
    if foreign is None:
        raise ConfigError(f"fit-a-nef has no model equal to the Arena's {arch}; there is nothing to import.")
    return foreign


def fitanef_mapping(arch: str, param_config: Sequence, hparams: Mapping[str, Any]) -> tuple[Layout, np.ndarray, np.ndarray]:
    """How to turn fit-a-nef rows into Arena rows.

    The names and any rescaling come from the architecture's module in :mod:`arena.nef`
    (``Architecture.foreign``).

    Args:
        arch: the Arena architecture.
        param_config: fit-a-nef's ``[[name, shape], ...]`` in storage order.
        hparams: the Arena hyperparameters.

    Returns:
        ``(layout, columns, scale)``: Arena row = ``fitanef_row[columns] * scale``.
    """
    architecture, foreign = nef.get(arch), _foreign(arch)
    source = Layout((n, s) for n, s in param_config)
    shapes = dict(source.entries)
    theirs = foreign.names(architecture.layout(hparams, 1, 1))  # the names do not depend on the dims
    try:
        in_dim, out_dim = architecture.dims(
            {ours: shapes[t] for ours, t in theirs.items() if t in shapes}, hparams)
    except KeyError as exc:
        missing = theirs.get(exc.args[0], exc.args[0])
        raise ConfigError(f"fit-a-nef's param_config has no '{missing}'; it is not a {arch} it wrote.") from None
    layout = architecture.layout(hparams, in_dim, out_dim)
    names = foreign.names(layout)
    columns, scale = [], []
    for name, shape in layout:
        theirs = names.get(name)
        if theirs not in shapes or tuple(shapes[theirs]) != tuple(shape):
            raise ConfigError(
                f"fit-a-nef's param_config does not match a {arch} with {dict(hparams)}: the Arena's "
                f"'{name}' {list(shape)} should be '{theirs}', which is "
                f"{list(shapes[theirs]) if theirs in shapes else 'missing'}."
            )
        sl = source.slice(theirs)
        columns.append(np.arange(sl.start, sl.stop))
        scale.append(np.full(sl.stop - sl.start, foreign.scale(name, hparams), np.float32))
    unused = set(source.names) - set(names.values())
    if unused:
        raise ConfigError(f"fit-a-nef parameters {sorted(unused)} have no place in the Arena's {arch}.")
    return layout, np.concatenate(columns), np.concatenate(scale)


# --------------------------------------------------------------------------------------------
# Reading fit-a-nef folders


def _hdf5_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise MissingFileError(f"'{path}' does not exist; pass a fit-a-nef folder of .hdf5 files.")
    files = [p for p in path.iterdir() if p.suffix in (".hdf5", ".h5") and p.is_file()]
    if not files:
        raise MissingFileError(f"'{path}' holds no .hdf5 files; pass the folder fit-a-nef wrote.")

    def order(p: Path):
        m = _RANGE_RE.search(p.stem)
        return (0, int(m.group(1)), p.name) if m else (1, 0, p.name)

    return sorted(files, key=order)


def _param_config(f, path: Path) -> list:
    raw = f["param_config"][0] if "param_config" in f else f.attrs.get("param_config")
    if raw is None:
        raise ShardError(f"{path} has no 'param_config'; it is not a fit-a-nef neural dataset file.")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        return [[str(n), [int(d) for d in s]] for n, s in json.loads(str(raw))]
    except (ValueError, TypeError) as exc:
        raise ShardError(f"{path}: 'param_config' is not a JSON list of [name, shape]: {exc}.") from None


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}).") from None


class _Rows:
    """The rows of several HDF5 files as one sequence (read block by block)."""

    def __init__(self, h5py, files: list[Path]):
        self.files, self.starts, self.counts, self.index = files, [], [], []
        self.config, dtypes = None, set()
        total = 0
        for path in files:
            try:
                with h5py.File(path, "r") as f:
                    for key in ("params", "labels"):
                        if not isinstance(f.get(key), h5py.Dataset):
                            raise ShardError(f"{path} has no '{key}' dataset; a fit-a-nef classification "
                                             "dataset file holds 'params', 'labels' and 'param_config'.")
                    if f["params"].ndim != 2:
                        raise ShardError(f"{path}: 'params' has shape {f['params'].shape}; fit-a-nef "
                                         "writes one flattened NeF per row, (n, P).")
                    n, p = f["params"].shape
                    if f["labels"].shape != (n,):
                        raise ShardError(f"{path}: 'labels' has shape {f['labels'].shape}, params {n} rows.")
                    config = _param_config(f, path)
                    dtypes.add(f["params"].dtype)
            except OSError as exc:
                raise _unreadable(path, exc) from None
            if self.config is None:
                self.config = config
            elif config != self.config:
                raise ShardError(f"{path} has another param_config than {files[0]}; mixed datasets.")
            if p != sum(math.prod(s) for _, s in config):
                raise ShardError(f"{path}: params has {p} columns, its param_config {config} others.")
            m = _RANGE_RE.search(path.stem)
            first = int(m.group(1)) if m else total
            if m and int(m.group(2)) - first != n:
                raise ShardError(f"{path} is named for rows {m.group(1)}-{m.group(2)} but holds {n}.")
            self.starts.append(total)
            self.counts.append(n)
            self.index.append(np.arange(first, first + n, dtype=np.int64))
            total += n
        self.total = total
        self.index = np.concatenate(self.index)
        self.h5py = h5py

    def read(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        params, labels = [], []
        for path, start, n in zip(self.files, self.starts, self.counts):
            a, b = max(lo, start), min(hi, start + n)
            if a >= b:
                continue
            try:
                with self.h5py.File(path, "r") as f:
                    params.append(np.asarray(f["params"][a - start:b - start], np.float32))
                    labels.append(np.asarray(f["labels"][a - start:b - start]).astype(np.int64))
            except OSError as exc:
                raise _unreadable(path, exc, f"rows {a - start}..{b - start - 1}") from None
        return np.concatenate(params), np.concatenate(labels)


def _unreadable(path: Path, exc: OSError, rows: str | None = None) -> ShardError:
    """The error for an HDF5 file h5py cannot open or read (not HDF5, truncated, a corrupt chunk)."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    what = f"Cannot read {rows} of {path}" if rows else f"{path} is not a readable HDF5 file"
    return ShardError(f"{what} ({reason}): it is damaged or not an HDF5 file fit-a-nef wrote. Copy it "
                      "again from where fit-a-nef wrote it, or move it out of the folder; nothing was imported.")


def import_hdf5(
    path: PathLike,
    out: PathLike | None = None,
    *,
    name: str | None = None,
    splits: Mapping[str, tuple[int, int]] | None = None,
    hparams: Mapping[str, Any] | None = None,
    version: str = "1.0.0",
    shard_size: int = 10_000,
) -> Path:
    """Convert a fit-a-nef HDF5 neural dataset into an Arena dataset directory.

    Args:
        path: the folder of ``*.hdf5`` files fit-a-nef wrote (with its ``nef.json`` and
            ``cfg.json``), or one ``.hdf5`` file.
        out: the dataset directory to write (default: the local store,
            ``$ARENA_HOME/datasets/<name>/<version>``): a new or empty directory, not inside a
            dataset, not the store or a folder holding it. The dataset is written under a
            temporary name beside it and renamed into place when complete, so a failure leaves
            ``out`` as it was.
        name: the dataset's name (default: ``neural_<dataset>`` from ``cfg.json``, or the folder's
            name). An import never takes an official release's identity: its version carries
            ``+import.<hash>`` (see ``version``), as a build with overrides carries ``+custom``.
        splits: ``{split: (start, end)}`` row ranges in the concatenated NeF order (files sorted
            by their start index). Default: the first Neural Field Arena's splits for MNIST,
            CIFAR10 and MicroImageNet when the row count matches, else one ``train`` split.
        hparams: fit-a-nef ``nef.json`` parameters to use or override (e.g. ``{"omega_0": 30}``
            when there is no ``nef.json``).
        version: the dataset's semantic version, to which ``+import.<hash>`` is added (``.import.``
            if it has build metadata already); ``<hash>`` is the first 10 hex digits of the
            sha256 of the source files' sha256s, the splits and the hyperparameters, so the same
            import gets the same version.
        shard_size: rows per shard.

    Returns:
        The dataset directory.
    """
    h5py = require("h5py", "hdf5", "Importing a fit-a-nef HDF5 dataset")
    target = _output_dir(Path(out)) if out is not None else None  # before any reading
    path = Path(path).expanduser()
    files = _hdf5_files(path)
    folder = files[0].parent
    rows = _Rows(h5py, files)
    nef_json = _read_json(folder / "nef.json") or {}
    cfg = _read_json(folder / "cfg.json") or {}
    nef_params = {**(nef_json.get("params") or {}), **(hparams or {})}
    arch = _arch_of(nef_json.get("name"), [n for n, _ in rows.config])
    arena_hparams = _hparams(arch, nef_params)
    layout, columns, scale = fitanef_mapping(arch, rows.config, arena_hparams)
    in_dim, out_dim = nef.get(arch).dims(dict(layout.entries), arena_hparams)

    dataset = str((cfg.get("dataset") or {}).get("name") or "")
    preset = PRESETS.get(dataset.lower()) or PRESETS.get(str(name or "").lower().removeprefix("neural_"))
    name = name or (preset["name"] if preset else "neural_" + _slug(dataset or folder.name))
    if not _NAME_RE.match(name):
        raise ConfigError(f"Dataset name {name!r} is invalid; use lower-case letters, digits, '_', '-', '.'.")
    split_rows = _splits(splits, preset, rows.total)
    signal = _signal(in_dim, out_dim, preset)

    from arena import hub

    sources = {p.name: fmt.sha256_file(p) for p in files}
    version = _import_version(version, sources, split_rows, arena_hparams)
    target = target or _output_dir(hub.local_path(name, version), given=False)
    with fmt.staged_directory(target, fill_empty=True) as tmp:  # in place only when complete
        shard_files: dict[str, list[str]] = {}
        max_label = 0
        for split, (lo, hi) in split_rows.items():
            count = max(1, math.ceil((hi - lo) / shard_size))
            shard_files[split] = []
            for i in range(count):
                a, b = lo + i * shard_size, min(hi, lo + (i + 1) * shard_size)
                params, labels = rows.read(a, b)
                converted = np.ascontiguousarray(params[:, columns] * scale, np.float32)
                rel = fmt.shard_name(split, i, count)
                fmt.write_shard(tmp / rel, converted, labels, rows.index[a:b])
                max_label = max(max_label, int(labels.max()))
                shard_files[split].append(rel)

        manifest = {
            "format": fmt.FORMAT,
            "name": name,
            "version": version,
            "source": _source(preset, dataset, max_label),
            "signal": signal,
            "field": {"arch": arch, "hparams": arena_hparams, "in_dim": in_dim, "out_dim": out_dim,
                      "layout": layout.to_json(), "kernel": "in_out", "num_params": layout.num_params},
            "fit": {"library": "fit-a-nef", "nef": nef_json or None, "config": cfg or None,
                    "dtype": "float32"},
            "splits": {s: fmt.split_entry(tmp, names) for s, names in shard_files.items()},
            "stats": {"metrics": {}, "params": fmt.dataset_stats(tmp, shard_files, layout)[1]},
            "builder": {"name": "import-hdf5", "version": _version(), "files": sources},
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        fmt.Manifest(manifest).write(tmp)  # last: a directory with arena.json is complete
    return target


def _output_dir(out: Path, *, given: bool = True) -> Path:
    """``out`` made absolute, refused unless it is new or empty, outside every dataset and not
    the local store or a folder holding it (the import never writes over what is there)."""
    from arena import hub

    target = out.expanduser().resolve()
    fix = ("Pass a new or empty directory, or no --out to write to the local store." if given else
           f"Its place in the store is taken by what an earlier, interrupted import left: move {out} "
           "away, or pass --out DIR.")
    what = f"--out {out}" if given else f"The store's place for this import, {out},"
    hub.check_output_place(target, out, fix)
    if (target / fmt.MANIFEST_NAME).is_file():
        raise ConfigError(f"'{out}' already holds a dataset; pass another --out or delete it first.")
    if not target.exists() and not target.is_symlink():
        return target
    if not target.is_dir():
        raise ConfigError(f"{what} exists and is not a directory. {fix}")
    held = sorted(p.name for p in target.iterdir())
    if held:
        raise ConfigError(f"{what} is not empty (it holds {held[0]!r}); the import writes only into a "
                          f"new or empty directory, so nothing there is overwritten. {fix}")
    return target


def _import_version(version: str, sources: Mapping[str, str], split_rows: Mapping[str, tuple[int, int]],
                    hparams: Mapping[str, Any]) -> str:
    """``version`` marked as an import: ``+import.<hash>`` (``.import.<hash>`` after build metadata)."""
    what = json.dumps({"files": sources, "splits": split_rows, "hparams": hparams}, sort_keys=True)
    tag = "import." + hashlib.sha256(what.encode("utf-8")).hexdigest()[:10]
    return version + ("." if "+" in version else "+") + tag


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "imported"


def _splits(splits, preset, total: int) -> dict[str, tuple[int, int]]:
    if splits is None:
        ranges = preset["splits"] if preset else None
        if ranges is None or max(hi for _, hi in ranges.values()) != total:
            return {"train": (0, total)}
        return dict(ranges)
    out = {}
    for split, (lo, hi) in splits.items():
        if not 0 <= lo < hi <= total:
            raise ConfigError(
                f"Split '{split}' = {lo}:{hi} is not a non-empty row range of the {total} NeFs."
            )
        out[split] = (int(lo), int(hi))
    ordered = sorted(out.items(), key=lambda kv: kv[1])
    for (a, (_, a_hi)), (b, (b_lo, _)) in zip(ordered, ordered[1:]):
        if b_lo < a_hi:  # a NeF in two splits would leak (e.g. test NeFs trained on)
            raise ConfigError(
                f"Splits '{a}' = {out[a][0]}:{a_hi} and '{b}' = {b_lo}:{out[b][1]} overlap; "
                "give each NeF to one split only."
            )
    return out


def _signal(in_dim: int, out_dim: int, preset) -> dict[str, Any]:
    if in_dim == 3:
        return {"kind": "shape", "coords": "as fit by fit-a-nef (its shape normalisation)"}
    signal: dict[str, Any] = {
        "kind": "image",
        "grid": "linspace_xy",
        "coords": "fit-a-nef: meshgrid(linspace(-1, 1, H), linspace(-1, 1, W)) stacked (x, y)",
    }
    if preset:
        signal["shape"] = preset["shape"]
        signal["normalization"] = {"mean": preset["mean"], "std": preset["std"], "scale": "[0, 1]"}
    return signal


def _source(preset, dataset: str, max_label: int) -> dict[str, Any]:
    classes = preset["classes"] if preset and preset["classes"] else None
    num_classes = len(classes) if classes else max_label + 1
    return {
        "name": preset["source"] if preset else _slug(dataset or "unknown"),
        "origin": f"imported from fit-a-nef HDF5 files (dataset '{dataset or 'unknown'}')",
        "revision": "unknown",
        "num_classes": num_classes,
        "class_names": list(classes) if classes else [str(k) for k in range(num_classes)],
        "index": "fit-a-nef NeF index (the <start>-<end> of the file names); with several fit "
                 "seeds, the source position is this index modulo the source's size",
    }


def _version() -> str:
    from arena import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# Export


def _dense_stack(params, target: nef.Target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    flat = np.asarray(params)
    weights, biases = nef.dense_layers(flat[None] if flat.ndim == 1 else flat, target)
    return [np.asarray(w) for w in weights], [np.asarray(b) for b in biases]


def to_dws(params: np.ndarray, target: nef.Target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The dense ``layers.*`` stack in the layout of DWSNets and neural-graphs.

    Args:
        params: ``(B, P)`` (or ``(P,)``) flat parameters in layout order.
        target: the dataset's :class:`arena.nef.FieldInfo`, its manifest or its layout.

    Returns:
        ``(weights, biases)``: per layer ``(B, in, out, 1)`` and ``(B, out, 1)``, so a layer is
        ``y = x @ weights[l][..., 0] + biases[l][..., 0]``. RFFNet's embedding and MFN's filters
        are not part of it (they are not dense layers of a plain MLP).
    """
    weights, biases = _dense_stack(params, target)
    return [w[..., None] for w in weights], [b[..., None] for b in biases]


def to_nfn(params: np.ndarray, target: nef.Target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The dense ``layers.*`` stack in the layout of NFN (neural functional networks).

    Args:
        params: ``(B, P)`` (or ``(P,)``) flat parameters in layout order.
        target: the dataset's :class:`arena.nef.FieldInfo`, its manifest or its layout.

    Returns:
        ``(weights, biases)``: per layer ``(B, 1, out, in)`` and ``(B, 1, out)`` (one channel,
        torch ``nn.Linear`` orientation: ``y = x @ weights[l][:, 0].T + biases[l][:, 0]``).
    """
    weights, biases = _dense_stack(params, target)
    return ([np.ascontiguousarray(w.transpose(0, 2, 1))[:, None] for w in weights],
            [b[:, None] for b in biases])


# --------------------------------------------------------------------------------------------
# flax (the ``flax`` extra; imported on first call, never by ``import arena.interop``)


def to_flax(target):
    """The flax linen module of a dataset's NeF architecture (SIREN, RFFNet or MFN).

    ``module.apply(to_flax_params(split.params[i], split.info), coords)`` equals
    ``split.field(i)(coords)`` to float32 rounding; see :mod:`arena._flax` for the names.

    Args:
        target: the dataset's manifest, a :class:`arena.data.Split` or its ``FieldInfo``.
    """
    from arena import _flax

    return _flax.to_flax(target)


def to_flax_params(params, target) -> dict:
    """Flat rows ``(P,)`` or ``(B, P)`` as :func:`to_flax`'s variables ``{"params": {...}}``."""
    from arena import _flax

    return _flax.to_flax_params(params, target)


def from_flax_params(tree, target) -> np.ndarray:
    """:func:`to_flax`'s variables back as flat rows in layout order, bit for bit."""
    from arena import _flax

    return _flax.from_flax_params(tree, target)


__all__ = ["PRESETS", "fitanef_mapping", "from_flax_params", "import_hdf5", "to_dws", "to_flax",
           "to_flax_params", "to_nfn"]
