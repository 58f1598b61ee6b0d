"""What an architecture module of :mod:`arena.nef` provides, and the pieces they share.

Everything here needs numpy only. The types are re-exported by :mod:`arena.nef`; import them
from there.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from arena.errors import ConfigError
from arena.layout import Layout

if TYPE_CHECKING:
    from arena.graph import GraphBuilder, GraphSpec
    from arena.nef import FieldInfo

Shapes = Mapping[str, tuple[int, ...]]
Members = tuple[tuple[str, int], ...]


class HiddenLayer(NamedTuple):
    """One hidden layer: its width and the ``(tensor name, axis)`` pairs indexed by its neurons."""

    width: int
    members: Members


def _no_scale(name: str, hparams: Mapping[str, Any]) -> float:
    return 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class Foreign:
    """How fit-a-nef (and the first Neural Field Arena) names an architecture's parameters.

    Attributes:
        name: the architecture's name in fit-a-nef's ``nef.json`` (``"SIREN"``).
        hparams: fit-a-nef's ``nef.json`` ``params`` -> the Arena's hyperparameters; raises
            ``KeyError`` naming a missing key.
        names: an Arena layout -> ``{Arena tensor name: fit-a-nef tensor name}`` for every
            tensor; one-to-one, and independent of the layout's ``in_dim`` and ``out_dim``.
        claims: whether fit-a-nef tensor names look like this architecture's (used when there
            is no ``nef.json``).
        scale: ``(Arena tensor name, Arena hparams) -> s`` with Arena value = fit-a-nef value * s.
    """

    name: str
    hparams: Callable[[Mapping[str, Any]], dict[str, Any]]
    names: Callable[[Layout], dict[str, str]]
    claims: Callable[[Sequence[str]], bool]
    scale: Callable[[str, Mapping[str, Any]], float] = _no_scale


@dataclasses.dataclass(frozen=True, eq=False)
class Architecture:
    """Everything the Arena knows about one NeF architecture, in numpy (one module each).

    An architecture is identified by ``name`` (the manifest's ``field.arch``). Compared and
    hashed by identity.

    Attributes:
        name: ``"siren"``, ``"rffnet"``, ``"mfn"``, ...
        layout: ``(hparams, in_dim, out_dim) -> Layout``, the parameter layout the JAX field
            produces; raises :class:`ConfigError` for hyperparameters the architecture refuses.
        dims: ``({tensor name: shape}, hparams) -> (in_dim, out_dim)`` read off a layout's
            shapes; raises ``KeyError`` naming a tensor it needs and does not find.
        matches: whether a layout alone (no architecture name) has this architecture's tensor
            names. Several architectures may match the same names when their structure (dense
            stack, hidden layers, graph) is the same.
        dense_stack: a layout -> ``((weight name, bias name), ...)``, the dense layers a plain
            MLP model sees (kernel ``(in, out)``), input side first.
        hidden_groups: a layout -> one ``((tensor name, axis), ...)`` tuple per hidden layer,
            the axes indexed by its neurons: permuting a hidden layer's neurons along all of
            them together leaves the NeF's function unchanged.
        graph: ``GraphBuilder -> GraphSpec``, the neural graph's topology
            (:mod:`arena.graph`).
        forward: ``(FieldInfo, {name: float32 array}, coords (n, in_dim)) -> (n, out_dim)``,
            the JAX field's ``apply`` in numpy, float32.
        field: where the JAX field class is, ``"module:Class"``
            (``"arena.fields.siren:Siren"``); :mod:`arena.fields` imports it (this package
            never imports JAX or :mod:`arena.fields`).
        foreign: fit-a-nef's names for it, or ``None`` when fit-a-nef has no such model.
        sign_symmetric: the hidden activations are odd, so negating a hidden neuron's incoming
            weights and bias and its outgoing weights changes nothing (SIREN).
    """

    name: str
    layout: Callable[[Mapping[str, Any], int, int], Layout]
    dims: Callable[[Shapes, Mapping[str, Any]], tuple[int, int]]
    matches: Callable[[Layout], bool]
    dense_stack: Callable[[Layout], tuple[tuple[str, str], ...]]
    hidden_groups: Callable[[Layout], tuple[Members, ...]]
    graph: Callable[[GraphBuilder], GraphSpec]
    forward: Callable[[FieldInfo, Mapping[str, np.ndarray], np.ndarray], np.ndarray]
    field: str
    foreign: Foreign | None = None
    sign_symmetric: bool = False

    def __repr__(self) -> str:
        return f"Architecture({self.name!r})"


# --------------------------------------------------------------------------------------------
# Building blocks


def hparam(hparams: Mapping[str, Any], key: str, arch: str) -> Any:
    """``hparams[key]``, or a :class:`ConfigError` saying that architecture ``arch`` needs it."""
    try:
        return hparams[key]
    except KeyError:
        raise ConfigError(
            f"A {arch} needs the hyperparameter '{key}' (field.hparams.{key} in a manifest); "
            f"got {sorted(hparams)}."
        ) from None


def plain(value):
    """A 0-d numpy or JAX array of integers or floats as its Python number (``value.item()``);
    anything else unchanged. Scalars from ``np.array(8)``, ``jnp.float32(1e-3)`` or a
    ``jnp.logspace`` loop are numbers to the checks below."""
    if getattr(value, "ndim", None) == 0 and getattr(getattr(value, "dtype", None), "kind", None) in ("i", "u", "f"):
        return value.item()
    return value


def is_number(value) -> bool:
    """A real number (also a 0-d array of one); not a bool, a string or None."""
    value = plain(value)
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def is_whole(value) -> bool:
    """An integer, or a finite float with a whole value (also a 0-d array of one); not a bool."""
    value = plain(value)
    return is_number(value) and (isinstance(value, numbers.Integral) or (math.isfinite(value)
                                                                        and float(value).is_integer()))


def whole(value, need: str) -> int:
    """``value`` as an int (an integer, or a float with a whole value), or a :class:`ConfigError`
    ``"<need>; got <value>."``: never a string, a bool or None read as a size."""
    if not is_whole(value):
        raise ConfigError(f"{need}; got {value!r}.")
    return int(plain(value))


def sizes(hparams: Mapping[str, Any], keys: Sequence[str], arch: str, in_dim, out_dim) -> list[int]:
    """The integer hyperparameters ``keys`` of ``arch`` (:func:`hparam`), then ``in_dim`` and ``out_dim``."""
    named = [(key, hparam(hparams, key, arch)) for key in keys] + [("in_dim", in_dim), ("out_dim", out_dim)]
    return [whole(value, f"A {arch} needs an integer {key}") for key, value in named]


def dense_entries(prefix: str, widths: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
    """``<prefix>.<l>.weight (widths[l], widths[l+1])`` and ``.bias`` for each layer ``l``."""
    entries = []
    for l in range(len(widths) - 1):
        entries += [(f"{prefix}.{l}.weight", (widths[l], widths[l + 1])),
                    (f"{prefix}.{l}.bias", (widths[l + 1],))]
    return entries


def dense_chain(layout: Layout, prefix: str = "layers") -> tuple[tuple[str, str], ...]:
    """``((<prefix>.0.weight, <prefix>.0.bias), ...)`` for the consecutive layers the layout has."""
    return tuple((f"{prefix}.{l}.weight", f"{prefix}.{l}.bias") for l in range(layout.depth(prefix)))


def chain_groups(layout: Layout, prefix: str = "layers") -> tuple[Members, ...]:
    """The hidden layers of a chain of dense layers: layer ``l``'s output (its weight columns
    and bias) feeds layer ``l + 1`` (its weight rows)."""
    return tuple(
        ((f"{prefix}.{l}.weight", 1), (f"{prefix}.{l}.bias", 0), (f"{prefix}.{l + 1}.weight", 0))
        for l in range(layout.depth(prefix) - 1)
    )


def depth(shapes: Shapes, prefix: str) -> int:
    """How many ``<prefix>.0.weight``, ``<prefix>.1.weight``, ... ``shapes`` has in a row."""
    n = 0
    while f"{prefix}.{n}.weight" in shapes:
        n += 1
    return n


def is_chain(names: set[str], prefix: str, depth: int) -> bool:
    """Whether ``names`` holds ``<prefix>.<l>.weight`` and ``.bias`` for ``l < depth`` (depth >= 1)."""
    return depth >= 1 and all(
        f"{prefix}.{l}.{kind}" in names for l in range(depth) for kind in ("weight", "bias")
    )


def chain_graph(g: GraphBuilder, prev: int, prefix: str = "layers") -> int:
    """Add the dense layers ``<prefix>.*`` after node layer ``prev`` to a neural graph: one node
    per output neuron (its bias the node feature), one edge per weight; the last layer's nodes
    are the outputs. Returns the output layer."""
    n = g.layout.depth(prefix)
    if n == 0:
        raise g.mismatch(f"no '{prefix}.0.weight'")
    for i in range(n):
        cur = g.layer(g.shape(f"{prefix}.{i}.weight")[1], last=i == n - 1)
        g.edges(prev, cur, f"{prefix}.{i}.weight", "dense")
        g.node_values(cur, f"{prefix}.{i}.bias")
        prev = cur
    return prev


def sinpi(u: np.ndarray) -> np.ndarray:
    """``sin(pi * u)`` with an exact argument reduction, in the dtype of ``u``."""
    k = np.round(u)
    f = u - k
    sign = 1 - 2 * (k - 2 * np.floor(0.5 * k))
    return sign * np.sin(np.pi * f).astype(u.dtype, copy=False)


def dense(t: Mapping[str, np.ndarray], name: str, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``scale * (x @ W + b)`` for layer ``name``, with ``scale`` folded into ``W`` and ``b`` in float32."""
    w, b = t[f"{name}.weight"], t[f"{name}.bias"]
    if scale != 1.0:
        w, b = np.float32(scale) * w, np.float32(scale) * b
    return x @ w + b
