"""What every JAX field provides, and the small pieces they share.

A field is the JAX ``init``/``apply`` of an architecture; everything else about it (its layout,
hidden layers, neural graph, numpy forward pass, fit-a-nef names) is its module in
:mod:`arena.nef`, which :func:`layout_of` reads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp

from arena import nef
from arena.nef import _common as nef_common
from arena.errors import ConfigError
from arena.layout import Layout

SINES = ("auto", "poly", "xla")  # arena.fields._sine.resolve_pi's choices

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


def check_hparams(field, positive: tuple[str, ...] = ()) -> None:
    """Refuse an unknown ``sine`` and, for each name in ``positive``, a value that is not a finite
    number > 0 (a frequency or scale: NaN would make NaN parameters, 0 a division by zero). The
    integer sizes are checked by the layout (:mod:`arena.nef`)."""
    if field.sine not in SINES:
        raise ConfigError(f"Unknown sine implementation {field.sine!r}; use one of {', '.join(SINES)}.")
    for name in positive:
        value = getattr(field, name)
        number = nef_common.plain(value)
        if not nef_common.is_number(number) or not (math.isfinite(number) and number > 0):
            raise ConfigError(f"{type(field).__name__} needs {name} to be a finite number > 0; got {value!r}.")
        if number is not value:  # a 0-d array: its Python number (a manifest can hold it)
            object.__setattr__(field, name, number)
    for name in ("hidden", "layers", "filters", "in_dim", "out_dim"):  # whole floats, numpy ints: plain ints
        value = getattr(field, name, None)
        if type(value) is not int and nef_common.is_whole(value):
            object.__setattr__(field, name, int(nef_common.plain(value)))


def check_key(field, key) -> None:
    """Refuse an ``init`` key that is not a JAX PRNG key (an int seed, say), naming what to pass."""
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    raw = dtype == jnp.uint32 and shape is not None and tuple(shape[-1:]) == (2,)  # jax.random.PRNGKey(0)
    if not (typed or raw):
        raise ConfigError(f"{type(field).__name__}.init takes a JAX PRNG key such as jax.random.key(0); "
                          f"got {key!r:.60}.")


def check_apply(field, params, coords) -> None:
    """Refuse, when ``apply`` is called or traced (shapes only: nothing runs per step), parameters
    that are not one NeF of this field's layout and coordinates that are not ``(..., in_dim)``."""
    layout = field.layout()
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"{type(field).__name__}.apply takes params {{name: array}} as init returns them; got "
            f"{type(params).__name__} of shape {getattr(params, 'shape', None)}. A flat row (P,) becomes "
            "that with field.layout().unflatten(row)."
        )
    for name, shape in layout:
        got = getattr(params.get(name), "shape", None)
        if got is None or tuple(got) != shape:
            raise ConfigError(
                f"These params are not one NeF of {type(field).__name__}(hparams {field.hparams()}): "
                f"'{name}' has shape {None if got is None else tuple(got)}, its layout {shape}."
            )
    shape = getattr(coords, "shape", None)
    if shape is None or tuple(shape[-1:]) != (field.in_dim,):
        raise ConfigError(f"{type(field).__name__}.apply takes coordinates as an array (..., {field.in_dim}); got "
                          f"{'shape ' + str(tuple(shape)) if shape is not None else type(coords).__name__}.")


def uniform(key, shape, bound):
    return jax.random.uniform(key, shape, jnp.float32, minval=-bound, maxval=bound)


def dense(params: Params, name: str, x, scale: float = 1.0):
    """``scale * (x @ W + b)`` for the layer ``name`` (``W`` stored ``(in, out)``)."""
    w, b = params[f"{name}.weight"], params[f"{name}.bias"]
    if scale != 1.0:  # scaling the small W and b is cheaper than scaling the activations
        w, b = scale * w, scale * b
    y = x @ w
    return y + jnp.broadcast_to(b, y.shape)
