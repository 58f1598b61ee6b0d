"""MFN / FourierNet: a multiplicative filter network with sinusoidal filters (Fathony et al., 2021);
its layout and the rest in :mod:`arena.nef.mfn`."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import jax
import jax.numpy as jnp

from arena.fields import _sine
from arena.fields._base import Params, check_apply, check_hparams, check_key, dense, hparams_of, layout_of, uniform
from arena.layout import Layout


@dataclasses.dataclass(frozen=True)
class MFN:
    """FourierNet: ``z_1 = g_1(x)``, ``z_{i+1} = (z_i W_i + b_i) * g_{i+1}(x)``, ``y = z_k W_k + b_k``.

    Each filter is ``g_i(x) = sin(x w_i + phi_i)`` with frequencies
    ``w_i ~ U(-sqrt(s/(k-1)), +sqrt(s/(k-1)))`` (``s = input_scale``, ``k = filters``) and phases
    ``phi_i ~ U(-pi, pi)``. The dense layers are initialised as SIREN's later layers with
    ``omega0 = 1``: ``U(-sqrt(6/fan_in), +sqrt(6/fan_in))``, zero biases.

    Parameters are stored filters first (``filters.i.weight`` ``(in, hidden)``,
    ``filters.i.bias``), then the dense layers (``layers.i``; the last maps to ``out_dim``).

    Args:
        hidden: width of the filters and of the hidden state.
        filters: number of filters ``k`` (>= 2); there are ``k`` dense layers.
        input_scale: ``s``, the frequency scale shared by all filters.
    """

    arch: ClassVar[str] = "mfn"
    hidden: int = 32
    filters: int = 4
    input_scale: float = 16.0
    in_dim: int = 2
    out_dim: int = 1
    sine: Literal["auto", "poly", "xla"] = "auto"

    def __post_init__(self):
        check_hparams(self, positive=("input_scale",))
        self.layout()  # arena.nef.mfn checks the hyperparameters

    def layout(self) -> Layout:
        return layout_of(self)

    def init(self, key: jax.Array) -> Params:
        check_key(self, key)
        layout, k = self.layout(), self.filters
        keys = jax.random.split(key, 3 * k)
        w_bound = math.sqrt(self.input_scale / (k - 1))
        params = {}
        for i in range(k):
            params[f"filters.{i}.weight"] = uniform(keys[i], layout.shape(f"filters.{i}.weight"), w_bound)
            params[f"filters.{i}.bias"] = uniform(keys[k + i], layout.shape(f"filters.{i}.bias"), math.pi)
        for i in range(k):
            fan_in, fan_out = layout.shape(f"layers.{i}.weight")
            params[f"layers.{i}.weight"] = uniform(keys[2 * k + i], (fan_in, fan_out), math.sqrt(6.0 / fan_in))
            params[f"layers.{i}.bias"] = jnp.zeros((fan_out,), jnp.float32)
        return params

    def apply(self, params: Params, coords: jax.Array) -> jax.Array:
        check_apply(self, params, coords)
        sinpi = _sine.resolve_pi(self.sine)

        def filt(i):  # sin(x w + phi) = sinpi((x w + phi) / pi)
            return sinpi(dense(params, f"filters.{i}", coords, 1.0 / math.pi))

        z = filt(0)
        for i in range(1, self.filters):
            z = dense(params, f"layers.{i - 1}", z) * filt(i)
        return dense(params, f"layers.{self.filters - 1}", z)

    def hparams(self) -> dict:
        return hparams_of(self)
