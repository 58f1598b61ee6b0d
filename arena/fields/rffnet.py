"""RFFNet: random Fourier features followed by a ReLU MLP (Tancik et al., 2020)."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import jax
import jax.numpy as jnp

from arena.errors import ConfigError
from arena.fields import _sine
from arena.fields._base import Params, dense, hparams_of, uniform
from arena.layout import Layout


@dataclasses.dataclass(frozen=True)
class RFFNet:
    """Fourier-feature embedding ``[sin(2 pi x B), cos(2 pi x B)]``, then ``layers`` dense layers.

    The embedding matrix ``B`` (``in_dim x hidden/2``, stored as ``embedding.weight``) is drawn
    ``N(0, 1)`` and scaled by ``std``; it is part of the parameters (so a NeF is self-contained)
    but is only trained when ``learnable_embedding`` is set. The dense layers are ReLU layers with
    Kaiming-uniform weights ``U(-sqrt(6/fan_in), +sqrt(6/fan_in))`` and zero biases; the last is
    linear.

    Args:
        hidden: width of the embedding and of the hidden layers (even).
        layers: dense layers after the embedding (>= 1).
        std: scale of the Fourier frequencies.
        learnable_embedding: train ``B`` as well.
    """

    arch: ClassVar[str] = "rffnet"
    hidden: int = 32
    layers: int = 3
    std: float = 10.0
    learnable_embedding: bool = False
    in_dim: int = 2
    out_dim: int = 1
    sine: Literal["auto", "poly", "xla"] = "auto"

    def __post_init__(self):
        if self.hidden % 2:
            raise ConfigError(f"RFFNet needs an even hidden width (got {self.hidden}).")
        if self.layers < 1:
            raise ConfigError(f"RFFNet needs layers >= 1 (got {self.layers}).")

    def _widths(self) -> list[int]:
        return [self.hidden] * self.layers + [self.out_dim]

    def layout(self) -> Layout:
        w = self._widths()
        entries = [("embedding.weight", (self.in_dim, self.hidden // 2))]
        for i in range(self.layers):
            entries += [(f"layers.{i}.weight", (w[i], w[i + 1])), (f"layers.{i}.bias", (w[i + 1],))]
        return Layout(entries)

    def init(self, key: jax.Array) -> Params:
        w = self._widths()
        keys = jax.random.split(key, self.layers + 1)
        b = jax.random.normal(keys[0], (self.in_dim, self.hidden // 2), jnp.float32)
        params = {"embedding.weight": self.std * b}
        for i in range(self.layers):
            bound = math.sqrt(6.0 / w[i])
            params[f"layers.{i}.weight"] = uniform(keys[i + 1], (w[i], w[i + 1]), bound)
            params[f"layers.{i}.bias"] = jnp.zeros((w[i + 1],), jnp.float32)
        return params

    def apply(self, params: Params, coords: jax.Array) -> jax.Array:
        b = params["embedding.weight"]
        if not self.learnable_embedding:
            b = jax.lax.stop_gradient(b)
        proj = 2.0 * (coords @ b)  # sin(2 pi x B) = sinpi(2 x B)
        sinpi = _sine.resolve_pi(self.sine)
        h = jnp.concatenate([sinpi(proj), sinpi(proj + 0.5)], axis=-1)
        for i in range(self.layers - 1):
            h = jax.nn.relu(dense(params, f"layers.{i}", h))
        return dense(params, f"layers.{self.layers - 1}", h)

    def frozen(self) -> tuple[str, ...]:
        """Parameters the fitter must leave untouched."""
        return () if self.learnable_embedding else ("embedding.weight",)

    def hparams(self) -> dict:
        return hparams_of(self)

