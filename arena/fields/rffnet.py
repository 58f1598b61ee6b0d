"""RFFNet: random Fourier features followed by a ReLU MLP (Tancik et al., 2020); its layout and
the rest in :mod:`arena.nef.rffnet`."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np

from arena.fields import _sine
from arena.errors import ConfigError
from arena.fields._base import Params, check_apply, check_hparams, check_key, dense, hparams_of, layout_of, uniform
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
        check_hparams(self, positive=("std",))
        if not isinstance(self.learnable_embedding, (bool, np.bool_)):
            raise ConfigError(f"RFFNet's learnable_embedding must be True or False; got {self.learnable_embedding!r}.")
        self.layout()  # arena.nef.rffnet checks the hyperparameters

    def layout(self) -> Layout:
        return layout_of(self)

    def init(self, key: jax.Array) -> Params:
        check_key(self, key)
        layout = self.layout()
        keys = jax.random.split(key, self.layers + 1)
        b = jax.random.normal(keys[0], layout.shape("embedding.weight"), jnp.float32)
        params = {"embedding.weight": self.std * b}
        for i in range(self.layers):
            fan_in, fan_out = layout.shape(f"layers.{i}.weight")
            params[f"layers.{i}.weight"] = uniform(keys[i + 1], (fan_in, fan_out), math.sqrt(6.0 / fan_in))
            params[f"layers.{i}.bias"] = jnp.zeros((fan_out,), jnp.float32)
        return params

    def apply(self, params: Params, coords: jax.Array) -> jax.Array:
        check_apply(self, params, coords)
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

