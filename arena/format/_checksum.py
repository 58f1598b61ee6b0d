"""Checksums and the manifest entries of files: ``{"path", "bytes", "sha256"[, "num_examples"]}``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arena.errors import ShardError
from arena.format._names import PathLike, check_relpath
from arena.format._safetensors import read_header

_HASH_CHUNK = 2**20


def sha256_file(path: PathLike) -> str:
    """The lower-case hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: PathLike, relpath: str) -> dict[str, Any]:
    """The manifest entry of one file of a dataset.

    Args:
        root: the dataset directory.
        relpath: the file's path relative to ``root``, with ``/`` separators.

    Returns:
        ``{"path", "bytes", "sha256"}``, plus ``"num_examples"`` when the file is a shard
        (a safetensors file whose ``params`` has two dimensions).
    """
    check_relpath(relpath, "file_entry")
    path = Path(root) / relpath
    entry: dict[str, Any] = {
        "path": relpath,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    if relpath.endswith(".safetensors"):
        info = read_header(path).get("params")
        if info is not None and len(info.shape) == 2:
            entry["num_examples"] = info.shape[0]
    return entry


def split_entry(root: PathLike, relpaths: Sequence[str]) -> dict[str, Any]:
    """The manifest entry of one split: ``{"num_examples", "files"}`` from its shards.

    Args:
        root: the dataset directory.
        relpaths: the split's shard paths relative to ``root``, in order.

    Returns:
        ``{"num_examples": total, "files": [file_entry(root, p) for p in relpaths]}``.
    """
    files = [file_entry(root, p) for p in relpaths]
    missing = [f["path"] for f in files if "num_examples" not in f]
    if missing:
        raise ShardError(f"These files are not shards (no (n, P) 'params' tensor): {missing}.")
    return {"num_examples": sum(f["num_examples"] for f in files), "files": files}
