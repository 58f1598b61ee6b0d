"""A view of several arrays' rows as one ``(N, ...)`` array, without copying them.

A split stored in several shards is read as one memory-mapped array per shard; a
:class:`ShardedArray` makes them one array: a row is a view into its shard, a selection of rows
gathers only those rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from arena.errors import ConfigError, ShardError


class ShardedArray:
    """The rows of several arrays, viewed as one ``(N, ...)`` array without copying.

    Indexing by an integer returns a view of that row in its shard; any other row selection
    (slice, integer array, boolean mask) gathers the selected rows into a new array, reading
    only them. ``np.asarray`` concatenates everything.

    Args:
        parts: arrays with equal dtypes and equal trailing shapes, in row order.
    """

    def __init__(self, parts: Sequence[np.ndarray]):
        if not parts:
            raise ConfigError("A ShardedArray needs at least one part.")
        first = parts[0]
        for part in parts:
            if part.dtype != first.dtype or part.shape[1:] != first.shape[1:]:
                raise ShardError(
                    f"Shards disagree: {part.dtype} {part.shape} vs {first.dtype} {first.shape}."
                )
        self._parts = tuple(parts)
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    @property
    def parts(self) -> tuple[np.ndarray, ...]:
        return self._parts

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self._offsets[-1]), *self._parts[0].shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._parts[0].dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for part in self._parts:
            yield from part

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("A ShardedArray cannot become one ndarray without copying.")
        out = np.concatenate(self._parts)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if isinstance(rows, (int, np.integer)):
            return self._row(int(rows))[rest]
        selected = np.arange(len(self))[rows]
        out = self._take(selected.ravel()).reshape(*selected.shape, *self.shape[1:])
        return out[(slice(None),) * selected.ndim + rest] if rest else out

    def _row(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"Row {i} is out of range for {n} rows.")
        i %= n
        s = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self._parts[s][i - self._offsets[s]]

    def _take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        shard = np.searchsorted(self._offsets, rows, side="right") - 1
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self._parts[s][rows[sel] - self._offsets[s]]
        return out

    def __repr__(self) -> str:
        return f"ShardedArray(shape={self.shape}, dtype={self.dtype}, parts={len(self._parts)})"
