"""The names inside a dataset directory: constants, shard paths, split names, listed paths.

Every path a manifest lists is checked here before anything is read: it must be relative,
``/``-separated, normalised and inside the dataset directory.
"""

from __future__ import annotations

import os
import re
from typing import Union

from arena.errors import ConfigError, UnsafePathError

FORMAT = "arena/1"
MANIFEST_NAME = "arena.json"
INIT_NAME = "init.safetensors"
DATA_DIR = "data"
INCOMPLETE_SUFFIX = ".incomplete"
METRIC_PREFIX = "metric."

PathLike = Union[str, os.PathLike]

SPLIT_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
MAX_SHARDS = 99999


def shard_name(split: str, i: int, count: int) -> str:
    """The relative path of shard ``i`` of ``count`` of a split.

    Args:
        split: the split name, lower case letters, digits and ``_`` (``"train"``).
        i: the shard's position, ``0 <= i < count``.
        count: how many shards the split has, at most 99,999.

    Returns:
        ``"data/{split}-{i:05d}-of-{count:05d}.safetensors"``.
    """
    check_split_name(split)
    if not 1 <= count <= MAX_SHARDS:
        raise ConfigError(f"A split has 1 to {MAX_SHARDS} shards; got count={count}.")
    if not 0 <= i < count:
        raise ConfigError(f"Shard index {i} is out of range for {count} shards (0..{count - 1}).")
    return f"{DATA_DIR}/{split}-{i:05d}-of-{count:05d}.safetensors"


def check_split_name(split: str) -> None:
    """Refuse a split name that is not lower-case letters, digits and ``_``."""
    if not isinstance(split, str) or not SPLIT_RE.fullmatch(split):
        raise ConfigError(
            f"Split name {split!r} is invalid; "
            "use lower-case letters, digits and '_' (e.g. 'train')."
        )


def check_relpath(path: str, source: str) -> None:
    """Refuse a listed path unless it is relative, normalised and inside the dataset."""
    parts = path.split("/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        reason = "is absolute"
    elif ".." in parts:
        reason = "leaves the dataset directory"
    elif "\\" in path or any(p in ("", ".") for p in parts):
        reason = "is not a normalised '/'-separated path"
    elif any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in path):  # would split lines
        reason = "holds a control character"
    else:
        return
    raise UnsafePathError(
        f"{source} lists the file path {path!r}, which {reason}; refusing to read it. Listed paths "
        "must be relative and inside the dataset (e.g. 'data/train-00000-of-00001.safetensors')."
    )
