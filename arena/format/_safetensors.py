"""Reading safetensors files with numpy alone: the header, checked, and memory-mapped tensors.

A safetensors file is an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets"}}`` (plus an optional ``__metadata__``), then the raw
little-endian tensor bytes. The header is trusted only after checking that its tensors tile
the data section exactly (no overlap, no gap, nothing missing or extra), so a truncated or
altered file is refused before any tensor is read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ShardError
from arena.format._names import PathLike

MAX_HEADER_BYTES = 100 * 2**20
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


@dataclasses.dataclass(frozen=True)
class Tensor:
    """Where one tensor lies in its file."""

    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # absolute, in bytes from the start of the file
    nbytes: int


def read_header(path: Path) -> dict[str, Tensor]:
    """Parse a safetensors header and check that the data section matches it exactly."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ShardError(f"{path} is not a safetensors file: it has only {size} bytes.")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ShardError(
                f"{path} is not a valid safetensors file: its header length {length} does not "
                f"fit in the file's {size} bytes."
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardError(f"{path} has an unreadable safetensors header ({exc}).") from exc
    if not isinstance(header, dict):
        raise ShardError(f"{path} has a safetensors header that is not a JSON object.")
    header.pop("__metadata__", None)
    tensors = {name: _tensor(path, name, spec, 8 + length) for name, spec in header.items()}
    _check_data_section(path, tensors, size - 8 - length, 8 + length)
    return tensors


def load_tensor(path: Path, t: Tensor, *, mmap: bool) -> np.ndarray:
    """One tensor: a read-only ``np.memmap`` with ``mmap`` (plain when empty), else in memory."""
    if t.nbytes == 0:
        return np.zeros(t.shape, t.dtype)
    if mmap:
        return np.memmap(path, dtype=t.dtype, mode="r", offset=t.offset, shape=t.shape)
    with open(path, "rb") as f:
        f.seek(t.offset)
        return np.fromfile(f, dtype=t.dtype, count=math.prod(t.shape)).reshape(t.shape)


def shard_arrays(path: PathLike, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as numpy arrays.

    Args:
        path: the file.
        mmap: return read-only ``np.memmap`` views (nothing is read until used) instead of
            arrays loaded into memory. Empty tensors are always plain arrays.

    Returns:
        ``{name: array}`` in the file's dtypes and shapes (little-endian).
    """
    path = Path(path)
    return {name: load_tensor(path, t, mmap=mmap) for name, t in read_header(path).items()}


def _tensor(path: Path, name: str, spec: Any, data_start: int) -> Tensor:
    try:
        dtype = DTYPES[spec["dtype"]]
        shape = tuple(int(d) for d in spec["shape"])
        begin, end = (int(o) for o in spec["data_offsets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(
            f"{path}: tensor '{name}' has an unsupported or malformed entry {spec!r}."
        ) from exc
    if any(d < 0 for d in shape) or not 0 <= begin <= end:
        raise ShardError(f"{path}: tensor '{name}' has an invalid shape or offsets: {spec!r}.")
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise ShardError(
            f"{path}: tensor '{name}' spans {end - begin} bytes, but {spec['dtype']} "
            f"{list(shape)} needs {math.prod(shape) * dtype.itemsize}."
        )
    return Tensor(dtype, shape, data_start + begin, end - begin)


def _check_data_section(
    path: Path, tensors: dict[str, Tensor], data_bytes: int, start: int
) -> None:
    cursor = start
    for t in sorted(tensors.values(), key=lambda t: (t.offset, t.nbytes)):
        if t.offset != cursor:
            raise ShardError(
                f"{path}: the tensors in its safetensors header overlap or leave gaps."
            )
        cursor += t.nbytes
    if cursor - start != data_bytes:
        raise ShardError(
            f"{path} holds {data_bytes} bytes of tensor data, but its header describes "
            f"{cursor - start}: the file is truncated or damaged."
        )
