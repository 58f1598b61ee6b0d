"""A fourth NeF architecture, defined only here: a ReLU MLP on a positional encoding.

``gamma(x) = [x, sin(2^0 pi x), cos(2^0 pi x), ..., sin(2^(F-1) pi x), cos(2^(F-1) pi x)]``
(``F = frequencies``, no parameters), then ``layers`` dense layers ``layers.<l>``, ReLU between
them, the last linear. This file is everything the Arena needs to know about it: the numpy
architecture (:data:`ARCH`, for :func:`arena.nef.register`) and its JAX field (:class:`ReluPE`).
``tests/test_nef_contracts.py`` registers it and runs every contract test on it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from arena import nef
from arena.errors import ConfigError
from arena.layout import Layout

NAME = "relu_pe"


def _encoded(in_dim: int, frequencies: int) -> int:
    return in_dim * (1 + 2 * frequencies)


def layout(hparams: Mapping[str, Any], in_dim: int, out_dim: int) -> Layout:
    hidden, layers, freqs = (int(hparams[k]) for k in ("hidden", "layers", "frequencies"))
    if layers < 2 or freqs < 0:
        raise ConfigError(f"relu_pe needs layers >= 2 and frequencies >= 0 (got {layers}, {freqs}).")
    widths = [_encoded(in_dim, freqs)] + [hidden] * (layers - 1) + [out_dim]
    return Layout(nef.dense_entries("layers", widths))


def dims(shapes, hparams: Mapping[str, Any]) -> tuple[int, int]:
    n = sum(1 for name in shapes if name.startswith("layers.") and name.endswith(".weight"))
    return shapes["layers.0.weight"][0] // (1 + 2 * int(hparams["frequencies"])), shapes[f"layers.{n - 1}.bias"][0]


def matches(layout: Layout) -> bool:
    return False  # a bare layout cannot tell it from a SIREN's, whose structure is the same


def graph(g):
    nef.chain_graph(g, g.inputs(g.shape("layers.0.weight")[0]))  # the inputs are the encoding
    return g.finish(("bias",), ("weight",))


def encode(x: np.ndarray, frequencies: int) -> np.ndarray:
    parts = [x]
    for k in range(frequencies):
        u = np.float32(2.0 ** k * math.pi) * x
        parts += [np.sin(u), np.cos(u)]
    return np.concatenate(parts, axis=-1)


def forward(info, t: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    x = encode(x, int(info.hparams["frequencies"]))
    n = info.layout.depth("layers")
    for i in range(n - 1):
        x = np.maximum(x @ t[f"layers.{i}.weight"] + t[f"layers.{i}.bias"], 0)
    return x @ t[f"layers.{n - 1}.weight"] + t[f"layers.{n - 1}.bias"]


def _foreign_hparams(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"hidden": int(params["hidden_dim"]), "layers": int(params["num_layers"]),
            "frequencies": int(params["num_frequencies"])}


def _foreign_names(layout: Layout) -> dict[str, str]:
    n = layout.depth("layers")
    return {f"layers.{i}.{kind}": f"dense_{i}.{'kernel' if kind == 'weight' else 'bias'}"
            for i in range(n) for kind in ("weight", "bias")}


def _foreign_claims(names: Sequence[str]) -> bool:
    return any(n.startswith("dense_") for n in names)


@dataclasses.dataclass(frozen=True)
class ReluPE:
    """The JAX field: Kaiming-uniform weights ``U(-sqrt(6/fan_in), +sqrt(6/fan_in))``, zero biases."""

    arch: ClassVar[str] = NAME
    hidden: int = 16
    layers: int = 3
    frequencies: int = 3
    in_dim: int = 2
    out_dim: int = 1

    def __post_init__(self):
        self.layout()

    def hparams(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "layers": self.layers, "frequencies": self.frequencies}

    def layout(self) -> Layout:
        return nef.get(self.arch).layout(self.hparams(), self.in_dim, self.out_dim)

    def init(self, key: jax.Array) -> dict[str, jax.Array]:
        layout = self.layout()
        keys = jax.random.split(key, self.layers)
        params = {}
        for i in range(self.layers):
            fan_in, fan_out = layout.shape(f"layers.{i}.weight")
            bound = math.sqrt(6.0 / fan_in)
            params[f"layers.{i}.weight"] = jax.random.uniform(keys[i], (fan_in, fan_out), jnp.float32, -bound, bound)
            params[f"layers.{i}.bias"] = jnp.zeros((fan_out,), jnp.float32)
        return params

    def apply(self, params, coords: jax.Array) -> jax.Array:
        parts = [coords]
        for k in range(self.frequencies):
            u = (2.0 ** k * math.pi) * coords
            parts += [jnp.sin(u), jnp.cos(u)]
        h = jnp.concatenate(parts, axis=-1)

        def dense(i, x):
            y = x @ params[f"layers.{i}.weight"]
            return y + jnp.broadcast_to(params[f"layers.{i}.bias"], y.shape)

        for i in range(self.layers - 1):
            h = jax.nn.relu(dense(i, h))
        return dense(self.layers - 1, h)


ARCH = nef.Architecture(
    name=NAME,
    layout=layout,
    dims=dims,
    matches=matches,
    dense_stack=nef.dense_chain,
    hidden_groups=nef.chain_groups,
    graph=graph,
    forward=forward,
    field=f"{__name__}:ReluPE",
    foreign=nef.Foreign("ReluPE", _foreign_hparams, _foreign_names, _foreign_claims),
)
