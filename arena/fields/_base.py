"""What every JAX field provides, and the small pieces they share.

A field is the JAX ``init``/``apply`` of an architecture; everything else about it (its layout,
hidden layers, neural graph, numpy forward pass, fit-a-nef names) is its module in
:mod:`arena.nef`, which :func:`layout_of` reads.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp

from arena import nef
from arena.layout import Layout

Params = dict[str, jax.Array]


class Field(Protocol):
    """A neural field architecture, written for one signal.

    ``init(key)`` draws one NeF's parameters as ``{name: array}`` in layout order;
    ``apply(params, coords)`` maps coordinates ``(..., in_dim)`` to values ``(..., out_dim)``.
    Thousands of NeFs are handled with ``jax.vmap`` over both.
    """

    arch: ClassVar[str]
    in_dim: int
    out_dim: int

    def layout(self) -> Layout: ...

    def init(self, key: jax.Array) -> Params: ...

    def apply(self, params: Params, coords: jax.Array) -> jax.Array: ...

    def hparams(self) -> dict[str, Any]: ...


def hparams_of(field) -> dict[str, Any]:
    """The architecture hyperparameters of a field dataclass (``sine`` and ``dense`` are implementation choices)."""
    return {
        f.name: getattr(field, f.name)
        for f in dataclasses.fields(field)
        if f.name not in ("sine", "dense", "in_dim", "out_dim")
    }


def layout_of(field) -> Layout:
    """The field's parameter layout, as its architecture in :mod:`arena.nef` defines it.

    Raises :class:`arena.errors.ConfigError` for hyperparameters the architecture refuses, so a
    field's ``__post_init__`` calls it to check them.
    """
    return nef.get(field.arch).layout(hparams_of(field), field.in_dim, field.out_dim)


def uniform(key, shape, bound):
    return jax.random.uniform(key, shape, jnp.float32, minval=-bound, maxval=bound)


def dense(params: Params, name: str, x, scale: float = 1.0):
    """``scale * (x @ W + b)`` for the layer ``name`` (``W`` stored ``(in, out)``)."""
    w, b = params[f"{name}.weight"], params[f"{name}.bias"]
    if scale != 1.0:  # scaling the small W and b is cheaper than scaling the activations
        w, b = scale * w, scale * b
    y = x @ w
    return y + jnp.broadcast_to(b, y.shape)
