"""Parameter layouts: the ordered ``[name, shape]`` list that maps a NeF's flat vector to tensors.

A layout is what makes a row of a neural dataset meaningful. ``params[i]`` of shape ``(P,)`` is
the concatenation, in layout order, of each tensor raveled in C order. Weights are stored with
the kernel orientation ``in_out``: a dense layer computes ``y = x @ W + b`` with ``W`` of shape
``(in, out)``.

This module needs numpy only, so loaders and the format can use it without JAX.

Example:
    >>> layout = Layout([("layers.0.weight", (2, 4)), ("layers.0.bias", (4,))])
    >>> layout.num_params
    12
    >>> flat = np.arange(12, dtype=np.float32)
    >>> layout.unflatten(flat)["layers.0.bias"].tolist()
    [8.0, 9.0, 10.0, 11.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from arena.errors import ConfigError

KERNEL_ORIENTATION = "in_out"


class Layout:
    """An ordered list of named tensor shapes, with exact flatten / unflatten.

    Args:
        entries: ``(name, shape)`` pairs in storage order. Names must be unique.
    """

    __slots__ = ("_entries", "_offsets")

    def __init__(self, entries: Iterable[tuple[str, Sequence[int]]]):
        normalised = tuple((str(name), tuple(int(d) for d in shape)) for name, shape in entries)
        names = [name for name, _ in normalised]
        if len(set(names)) != len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"Layout names must be unique; repeated: {duplicated}.")
        for name, shape in normalised:
            if any(d <= 0 for d in shape):
                raise ConfigError(f"Layout entry '{name}' has a non-positive dimension: {shape}.")
        self._entries = normalised
        offsets = [0]
        for _, shape in normalised:
            offsets.append(offsets[-1] + math.prod(shape))
        self._offsets = tuple(offsets)

    @classmethod
    def from_json(cls, entries: Sequence[Sequence]) -> Layout:
        """Read a layout as stored in a manifest: ``[[name, [d0, d1, ...]], ...]``."""
        try:
            return cls((name, shape) for name, shape in entries)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"A layout must be a list of [name, shape] pairs; got {entries!r}."
            ) from exc

    def to_json(self) -> list[list]:
        """The manifest form: ``[[name, [d0, d1, ...]], ...]``."""
        return [[name, list(shape)] for name, shape in self._entries]

    @property
    def entries(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return self._entries

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._entries)

    @property
    def num_params(self) -> int:
        return self._offsets[-1]

    def slice(self, name: str) -> slice:
        """The columns of the flat vector that hold tensor ``name``."""
        for i, (entry, _) in enumerate(self._entries):
            if entry == name:
                return slice(self._offsets[i], self._offsets[i + 1])
        raise KeyError(f"'{name}' is not in this layout; it has {list(self.names)}.")

    def shape(self, name: str) -> tuple[int, ...]:
        return dict(self._entries)[name]

    def depth(self, prefix: str) -> int:
        """How many ``<prefix>.0.weight``, ``<prefix>.1.weight``, ... the layout has in a row.

        ``layout.depth("layers")`` is the number of dense layers, ``depth("filters")`` MFN's
        filters.
        """
        names = set(self.names)
        n = 0
        while f"{prefix}.{n}.weight" in names:
            n += 1
        return n

    def flatten(self, tensors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate per-tensor arrays into flat vectors.

        Each tensor may carry leading batch dimensions ``(..., *shape)``; the result has shape
        ``(..., P)``. Works on numpy arrays and on any array type with ``reshape`` (JAX, torch)
        when ``concat`` is supplied via :meth:`flatten_with`.
        """
        return self.flatten_with(tensors, np.concatenate)

    def flatten_with(self, tensors: Mapping[str, object], concat) -> object:
        missing = [name for name in self.names if name not in tensors]
        if missing:
            raise ConfigError(f"Cannot flatten: tensors {missing} are missing.")
        pieces = []
        for name, shape in self._entries:
            t = tensors[name]
            batch = tuple(t.shape[: len(t.shape) - len(shape)])
            if tuple(t.shape[len(batch):]) != shape:
                raise ConfigError(
                    f"Tensor '{name}' has shape {tuple(t.shape)}; the layout expects "
                    f"(..., {', '.join(map(str, shape))})."
                )
            pieces.append(t.reshape(*batch, math.prod(shape)))
        return concat(pieces, axis=-1)

    def unflatten(self, flat) -> dict:
        """Split flat vectors ``(..., P)`` into ``{name: (..., *shape)}`` views (no copy)."""
        if flat.shape[-1] != self.num_params:
            raise ConfigError(
                f"Expected flat parameters with last dimension {self.num_params}; "
                f"got shape {tuple(flat.shape)}."
            )
        batch = tuple(flat.shape[:-1])
        return {
            name: flat[..., self._offsets[i] : self._offsets[i + 1]].reshape(*batch, *shape)
            for i, (name, shape) in enumerate(self._entries)
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and other._entries == self._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries)

    def __repr__(self) -> str:
        return f"Layout({len(self)} tensors, {self.num_params} params)"
