"""Shards and the shared initialisation: writing them, and checking a shard's tensors.

Each shard is a safetensors file holding ``params`` float32 ``(n, P)``, ``label`` int64
``(n,)``, ``index`` int64 ``(n,)`` (position in the source dataset) and one ``metric.<name>``
float32 ``(n,)`` per fit metric; the initialisation holds ``params`` float32 ``(P,)``. Writing
is atomic (:mod:`arena.format._atomic`) and deterministic: the same arrays give byte-identical
files (no timestamps, tensors in a fixed order).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import safetensors.numpy

from arena.errors import ConfigError, ShardError
from arena.format._atomic import write_bytes_atomic
from arena.format._names import METRIC_PREFIX, PathLike, shard_name
from arena.format._safetensors import Tensor, read_header

_METRIC_RE = re.compile(r"^[A-Za-z0-9_]+$")


def write_shard(
    path: PathLike,
    params: np.ndarray,
    label: np.ndarray,
    index: np.ndarray,
    metrics: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write one shard atomically and deterministically.

    Args:
        path: the shard's file, usually ``root / shard_name(split, i, count)``; missing parent
            directories are created.
        params: ``(n, P)`` float32, one flattened NeF per row.
        label: ``(n,)`` integers (stored as int64; any integer dtype that fits is accepted).
        index: ``(n,)`` integers, each row's position in the source dataset (stored as int64).
        metrics: ``{name: (n,) float32}`` per-NeF fit metrics, stored as ``metric.<name>``.

    Returns:
        The path written.
    """
    tensors = _shard_tensors(params, label, index, metrics or {})
    return _write_safetensors(Path(path), tensors)


def write_init(path: PathLike, params: np.ndarray) -> Path:
    """Write the shared initialisation ``(P,)`` float32 as tensor ``params``, atomically.

    Args:
        path: the file, usually ``root / INIT_NAME``.
        params: ``(P,)`` float32, flattened in the dataset's layout order.

    Returns:
        The path written.
    """
    arr = _float32("params", params)
    if arr.ndim != 1:
        raise ConfigError(
            f"The initialisation must be one flat vector (P,); got shape {arr.shape}."
        )
    return _write_safetensors(Path(path), {"params": np.ascontiguousarray(arr)})


def shard_layout(
    path: Path, tensors: Mapping[str, Tensor], num_params: int | None
) -> tuple[int, tuple[str, ...]]:
    """Check a shard's tensors; return its row count and metric names."""
    params = tensors.get("params")
    if params is None or params.dtype != np.float32 or len(params.shape) != 2:
        raise ShardError(
            f"{path} is not an Arena shard: it needs a float32 (n, P) tensor 'params'."
        )
    n, p = params.shape
    if num_params is not None and p != num_params:
        raise ShardError(
            f"{path} holds {p} parameters per row; the manifest's layout has {num_params}."
        )
    expected = {"label": np.dtype("<i8"), "index": np.dtype("<i8")}
    metrics = tuple(sorted(k[len(METRIC_PREFIX):] for k in tensors if k.startswith(METRIC_PREFIX)))
    expected.update({METRIC_PREFIX + m: np.dtype("<f4") for m in metrics})
    for name, dtype in expected.items():
        t = tensors.get(name)
        if t is None or t.dtype != dtype or t.shape != (n,):
            raise ShardError(f"{path} is not an Arena shard: '{name}' must be {dtype.name} ({n},).")
    return n, metrics


def completed_shards(
    root: PathLike, split: str, count: int, *, num_params: int | None = None
) -> set[int]:
    """The shards of a split that a resumed build can keep.

    A shard counts when its final file exists, its safetensors header parses, the file's size
    matches the header exactly and it holds the tensors of the format. ``.incomplete`` files
    are ignored, not removed (another process may be writing one); the next write of that
    shard overwrites it.

    Args:
        root: the dataset directory being built.
        split: the split name.
        count: the number of shards the split is built in.
        num_params: if given, a shard must also have this many parameters per row.

    Returns:
        The indices ``i`` of the complete shards.
    """
    root = Path(root)
    done = set()
    for i in range(count):
        path = root / shard_name(split, i, count)
        try:
            shard_layout(path, read_header(path), num_params)
        except (OSError, ShardError):
            continue
        done.add(i)
    return done


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    # Serialise in memory and write the bytes atomically here: safetensors' save_file writes
    # through a temporary file of its own (".tmpXXXXXX" beside the target), which a killed build
    # left behind in data/, where a resumed build neither expects nor removes it.
    return write_bytes_atomic(path, safetensors.numpy.save(tensors))


def _shard_tensors(
    params, label, index, metrics: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    p = _float32("params", params)
    if p.ndim != 2:
        raise ConfigError(f"params must have shape (n, P); got {p.shape}.")
    n = p.shape[0]
    tensors = {"params": p, "label": _int64("label", label, n), "index": _int64("index", index, n)}
    for name, values in metrics.items():
        if not isinstance(name, str) or not _METRIC_RE.fullmatch(name):
            raise ConfigError(
                f"Metric name {name!r} is invalid; use letters, digits and '_' (e.g. 'psnr')."
            )
        m = _float32(f"metric '{name}'", values)
        if m.shape != (n,):
            raise ConfigError(f"metric '{name}' must have shape ({n},) like params; got {m.shape}.")
        tensors[METRIC_PREFIX + name] = m
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}


def _float32(what: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != np.float32:
        raise ConfigError(
            f"{what} must be float32; got {arr.dtype}. Convert it with .astype(np.float32) first."
        )
    return arr


def _int64(what: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer) or not np.can_cast(arr.dtype, np.int64):
        raise ConfigError(f"{what} must hold integers that fit int64; got dtype {arr.dtype}.")
    if arr.shape != (n,):
        raise ConfigError(f"{what} must have shape ({n},) like params; got {arr.shape}.")
    return arr.astype(np.int64, copy=False)
