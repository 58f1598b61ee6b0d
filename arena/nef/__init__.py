"""NeF architectures in numpy: one module per architecture, behind one registry.

Each architecture module (:mod:`arena.nef.siren`, :mod:`arena.nef.rffnet`, :mod:`arena.nef.mfn`)
builds one :class:`Architecture`, which holds everything the Arena knows about it apart from
its JAX ``init``/``apply``: the parameter layout its hyperparameters give, the dense stack a
plain MLP model sees, the hidden-neuron groups (weight-space symmetries), the neural graph's
topology, the forward pass in numpy, and fit-a-nef's names for its tensors. The loaders
(:mod:`arena.data`), the transforms, the neural graphs (:mod:`arena.graph`), the fit-a-nef
import and DWSNets / NFN exports (:mod:`arena.interop`), the evaluation harness and
:mod:`arena.fields` all read them from here; adding an architecture is one module plus
:func:`register` (:attr:`Architecture.field` names its JAX field class, which
:mod:`arena.fields` imports).

:class:`FieldInfo` is "the NeF of a dataset": its architecture, hyperparameters, layout and
dimensions, read from the manifest (:meth:`FieldInfo.from_manifest`). The functions here take a
:class:`FieldInfo` or, where the architecture's structure is all they need, a bare
:class:`arena.layout.Layout`, whose architecture is then the first registered one that
:attr:`~Architecture.matches` its tensor names. A :class:`arena.format.Manifest` is read as its
:class:`FieldInfo`.

This package needs numpy only.

Example:
    >>> from arena import nef
    >>> info = nef.FieldInfo.from_manifest(split.info)      # or split.field_info
    >>> info.arch, info.layer_shapes
    ('siren', ((2, 32), (32, 32), (32, 1)))
    >>> [layer.width for layer in info.hidden_layers]
    [32, 32]
    >>> info.field(split.params[0])(coords)                 # the NeF, evaluated in numpy
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np

from arena import format as fmt
from arena.errors import ConfigError
from arena.layout import Layout
from arena.nef import _common, mfn, rffnet, siren
from arena.nef._common import (
    Architecture,
    Foreign,
    HiddenLayer,
    chain_graph,
    chain_groups,
    dense_chain,
    dense_entries,
    sinpi,
)

_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Make an architecture known to the Arena under ``arch.name``; returns it.

    Raises:
        ConfigError: ``arch`` is not an :class:`Architecture`, or its name is taken.
    """
    if not isinstance(arch, Architecture):
        raise ConfigError(f"register takes an arena.nef.Architecture; got {type(arch).__name__}.")
    if not isinstance(arch.name, str) or not arch.name.isidentifier():
        raise ConfigError(f"An architecture's name must be an identifier such as 'siren'; got {arch.name!r}.")
    if arch.name in _REGISTRY:
        raise ConfigError(
            f"An architecture named {arch.name!r} is registered already; unregister('{arch.name}') first."
        )
    _REGISTRY[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    """Forget the architecture ``name`` (the inverse of :func:`register`)."""
    get(name)
    del _REGISTRY[name]


def get(name: str) -> Architecture:
    """The registered architecture called ``name`` (a manifest's ``field.arch``)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown architecture {name!r}; the Arena knows {list(_REGISTRY)}.") from None


def names() -> tuple[str, ...]:
    """The registered architectures' names, in registration order."""
    return tuple(_REGISTRY)


def infer(layout: Layout) -> Architecture:
    """The first registered architecture whose tensor names a bare layout has."""
    for arch in _REGISTRY.values():
        if arch.matches(layout):
            return arch
    raise ConfigError(
        f"The layout {list(layout.names)} is not one that a registered architecture "
        f"({list(_REGISTRY)}) has; pass the dataset's manifest, which names its architecture."
    )


for _module in (siren, rffnet, mfn):
    register(_module.ARCH)


# --------------------------------------------------------------------------------------------
# The NeF of a dataset


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """The NeFs of a dataset: architecture, hyperparameters, layout and dimensions.

    Build it with :meth:`from_manifest` (or :meth:`from_layout` when only a layout is known).
    Compared by value; hashed by architecture and layout.

    Attributes:
        arch: the architecture's registered name, or ``None`` when only a layout is known
            (then :attr:`architecture` is inferred from the layout's tensor names).
        layout: the parameter layout.
        hparams: the architecture's hyperparameters, as the manifest stores them.
        in_dim: coordinate dimension (2 for images, 3 for shapes).
        out_dim: output channels.
    """

    arch: str | None
    layout: Layout
    hparams: Mapping[str, Any]
    in_dim: int
    out_dim: int

    @classmethod
    def from_manifest(cls, manifest: fmt.Manifest | Mapping[str, Any]) -> FieldInfo:
        """The ``field`` of a manifest (an :class:`arena.format.Manifest` or its JSON object)."""
        field = manifest.get("field") if isinstance(manifest, Mapping) else None
        if not isinstance(field, Mapping) or "layout" not in field:
            raise ConfigError(
                f"Expected a manifest with a 'field' holding its layout; got {type(manifest).__name__}."
            )
        layout = Layout.from_json(field["layout"])
        arch = get(field.get("arch"))
        hparams = dict(field.get("hparams") or {})
        if "in_dim" in field and "out_dim" in field:
            in_dim, out_dim = (_common.whole(field[k], f"The manifest's field.{k} must be an integer")
                               for k in ("in_dim", "out_dim"))
        else:
            in_dim, out_dim = _dims(arch, layout, hparams)
        return cls(arch.name, layout, hparams, in_dim, out_dim)

    @classmethod
    def from_layout(cls, layout: Layout) -> FieldInfo:
        """A layout alone: its architecture unknown, its structure that of :func:`infer`'s."""
        in_dim, out_dim = _dims(infer(layout), layout, {})
        return cls(None, layout, {}, in_dim, out_dim)

    @functools.cached_property
    def architecture(self) -> Architecture:
        """The registered :class:`Architecture` (inferred from the layout when ``arch`` is None)."""
        return infer(self.layout) if self.arch is None else get(self.arch)

    @property
    def num_params(self) -> int:
        """P, the length of a parameter vector."""
        return self.layout.num_params

    @functools.cached_property
    def dense_stack(self) -> tuple[tuple[str, str], ...]:
        """Names ``(weight, bias)`` of the dense layers a plain MLP model sees, input side first.

        Weights are ``(in, out)`` (``y = x @ W + b``). RFFNet's Fourier embedding and MFN's
        filters are not part of it.
        """
        pairs = tuple(self.architecture.dense_stack(self.layout))
        if not pairs:
            raise ConfigError(
                f"The layout {list(self.layout.names)} has no dense stack ('layers.0.weight' is missing)."
            )
        missing = [name for pair in pairs for name in pair if name not in self.layout.names]
        if missing:
            raise ConfigError(f"The layout has no '{missing[0]}': its dense stack is incomplete.")
        return pairs

    @functools.cached_property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(in, out)`` of each layer of :attr:`dense_stack`."""
        return tuple(self.layout.shape(w) for w, _ in self.dense_stack)

    @functools.cached_property
    def hidden_layers(self) -> tuple[HiddenLayer, ...]:
        """The hidden layers whose neurons may be permuted without changing the function."""
        out = []
        for members in self.architecture.hidden_groups(self.layout):
            sizes = set()
            for name, axis in members:
                if name not in self.layout.names:
                    raise ConfigError(
                        f"The layout has no tensor '{name}', which a {self.architecture.name} has; "
                        f"it has {list(self.layout.names)}."
                    )
                sizes.add(self.layout.shape(name)[axis])
            if len(sizes) != 1:
                raise ConfigError(
                    f"The tensors {[m for m, _ in members]} disagree on the hidden width "
                    f"({sorted(sizes)}); the layout is not a {self.architecture.name} layout."
                )
            out.append(HiddenLayer(sizes.pop(), tuple(members)))
        return tuple(out)

    def field(self, flat: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The NeF with flat parameters ``flat`` ``(P,)`` as a numpy function of coordinates.

        The forward pass is the architecture's ``apply`` written in numpy, in float32; it agrees
        with :mod:`arena.fields` to float32 accuracy.

        Returns:
            ``f(coords (..., in_dim)) -> (..., out_dim)`` float32.
        """
        if self.arch is None:
            raise ConfigError(
                "This NeF's architecture is unknown (only a Layout was given); the forward pass "
                "needs the manifest's field.arch."
            )
        forward = self.architecture.forward
        try:
            flat = np.asarray(flat, np.float32)
        except (TypeError, ValueError):
            flat = np.asarray(None)
        if flat.shape != (self.num_params,):
            raise ConfigError(f"A NeF is one parameter row of shape ({self.num_params},); got shape {flat.shape}. "
                              "Take one row, e.g. split.params[i].")
        tensors = dict(self.layout.unflatten(flat))

        def field(coords) -> np.ndarray:
            try:
                coords = np.asarray(coords, np.float32)
            except (TypeError, ValueError):
                coords = np.asarray(None)
            if coords.shape[-1:] != (self.in_dim,):
                raise ConfigError(
                    f"This NeF takes coordinates of shape (..., {self.in_dim}); got {coords.shape}."
                )
            lead = coords.shape[:-1]
            out = forward(self, tensors, coords.reshape(-1, self.in_dim))
            return out.reshape(*lead, out.shape[-1])

        return field

    def __hash__(self) -> int:
        return hash((self.arch, self.layout))


Target = Union[FieldInfo, Layout, fmt.Manifest]


def field_info(target: Target) -> FieldInfo:
    """``target`` as a :class:`FieldInfo`: itself, a layout's (:meth:`FieldInfo.from_layout`) or
    a manifest's (:meth:`FieldInfo.from_manifest`)."""
    if isinstance(target, FieldInfo):
        return target
    if isinstance(target, Layout):
        return FieldInfo.from_layout(target)
    if isinstance(target, fmt.Manifest):
        return FieldInfo.from_manifest(target)
    raise ConfigError(
        f"Expected a FieldInfo (split.field_info), a Layout (split.layout) or a Manifest "
        f"(split.info); got {type(target).__name__}."
    )


def hidden_layers(target: Target) -> tuple[HiddenLayer, ...]:
    """The hidden layers of a dataset's NeFs, input side first (:attr:`FieldInfo.hidden_layers`)."""
    return field_info(target).hidden_layers


def dense_stack(target: Target) -> tuple[tuple[str, str], ...]:
    """Names ``(weight, bias)`` of the dense stack, input side first (:attr:`FieldInfo.dense_stack`)."""
    return field_info(target).dense_stack


def dense_layers(params: np.ndarray, target: Target) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The dense stack of flat parameters ``(..., P)``: ``(weights, biases)``, per layer
    ``(..., in, out)`` and ``(..., out)`` views of ``params``."""
    info = field_info(target)
    tensors = info.layout.unflatten(params if hasattr(params, "shape") else np.asarray(params))
    return [tensors[w] for w, _ in info.dense_stack], [tensors[b] for _, b in info.dense_stack]


def _dims(arch: Architecture, layout: Layout, hparams: Mapping[str, Any]) -> tuple[int, int]:
    try:
        in_dim, out_dim = arch.dims(dict(layout.entries), hparams)
    except KeyError as exc:
        raise ConfigError(
            f"The layout {list(layout.names)} is not a {arch.name} layout: {exc} is missing."
        ) from None
    return int(in_dim), int(out_dim)


__all__ = [
    "Architecture",
    "FieldInfo",
    "Foreign",
    "HiddenLayer",
    "Target",
    "chain_graph",
    "chain_groups",
    "dense_chain",
    "dense_entries",
    "dense_layers",
    "dense_stack",
    "field_info",
    "get",
    "hidden_layers",
    "infer",
    "mfn",
    "names",
    "register",
    "rffnet",
    "siren",
    "sinpi",
    "unregister",
]
