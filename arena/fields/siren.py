"""SIREN: a sine-activated MLP (Sitzmann et al., 2020); its layout and the rest in :mod:`arena.nef.siren`."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal

import jax
import jax.numpy as jnp

from arena.errors import ConfigError
from arena.fields import _dense, _sine
from arena.fields._base import Params, check_apply, check_hparams, check_key, hparams_of, layout_of, uniform
from arena.layout import Layout

DENSE = (*_dense.KINDS, "pallas")  # the CPU kernel's choices, and the Pallas step on GPUs


@dataclasses.dataclass(frozen=True)
class Siren:
    """SIREN with ``layers`` dense layers: ``in -> hidden -> ... -> hidden -> out``.

    ``h_1 = sin(omega0 * (x W_0 + b_0))``, ``h_{l+1} = sin(omega0 * (h_l W_l + b_l))``, and the
    last layer is linear. Initialisation as in the paper's appendix: the first layer's weights
    ``U(-1/fan_in, 1/fan_in)``, every later layer's ``U(-sqrt(6/fan_in)/omega0, +...)``, biases
    zero.

    Args:
        hidden: width of the hidden layers.
        layers: number of dense layers (>= 2); 3 gives ``in -> H -> H -> out``.
        omega0: the frequency factor applied before each sine.
        in_dim: coordinate dimension (2 for images, 3 for shapes).
        out_dim: signal channels.
        sine: ``"auto"`` (polynomial sine on CPU, native elsewhere), ``"poly"`` or ``"xla"``;
            an implementation choice, not a hyperparameter: all give the same function to
            float32 accuracy.
        dense: how the sine layers' products run: ``"auto"`` (a hand-written kernel on x86-64
            CPUs with AVX2, XLA elsewhere; on GPUs the fused step is a Pallas kernel),
            ``"kernel"``, ``"xla"`` (no kernel, no fused step) or ``"pallas"`` (XLA's products and
            the Pallas step on any backend, interpreted off GPUs); also an implementation choice
            (see ``arena.fields._dense`` and ``arena.fields._pallas``).

    Example:
        >>> field = Siren(hidden=32, layers=3, omega0=9.0)
        >>> field.layout().num_params
        1185
    """

    arch: ClassVar[str] = "siren"
    hidden: int = 32
    layers: int = 3
    omega0: float = 30.0
    in_dim: int = 2
    out_dim: int = 1
    sine: Literal["auto", "poly", "xla"] = "auto"
    dense: Literal["auto", "kernel", "xla", "pallas"] = "auto"

    def __post_init__(self):
        if self.dense not in DENSE:
            raise ConfigError(f"Unknown dense implementation '{self.dense}'; use one of {', '.join(DENSE)} "
                              "(pallas: SIREN's fused GPU step).")
        check_hparams(self, positive=("omega0",))
        self.layout()  # arena.nef.siren checks the hyperparameters

    def layout(self) -> Layout:
        return layout_of(self)

    def init(self, key: jax.Array) -> Params:
        check_key(self, key)
        layout = self.layout()
        keys = jax.random.split(key, self.layers)
        params = {}
        for i in range(self.layers):
            fan_in, fan_out = layout.shape(f"layers.{i}.weight")
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.omega0
            params[f"layers.{i}.weight"] = uniform(keys[i], (fan_in, fan_out), bound)
            params[f"layers.{i}.bias"] = jnp.zeros((fan_out,), jnp.float32)
        return params

    def apply(self, params: Params, coords: jax.Array) -> jax.Array:
        check_apply(self, params, coords)
        if coords.ndim != 2:  # coordinates (..., in_dim): a batch of points, as the other fields take
            lead = coords.shape[:-1]
            return Siren.apply(self, params, coords.reshape(-1, self.in_dim)).reshape(*lead, self.out_dim)
        sinpi = _sine.resolve_pi(self.sine)
        scale = self.omega0 / math.pi  # sin(omega0 z) = sinpi(scale z): folded into W and b
        # feature-major inside (activations (width, points)): measured ~15 % faster under vmap
        h = coords.T
        for i in range(self.layers - 1):
            w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            products = "xla" if self.dense == "pallas" else self.dense
            h = sinpi(_dense.matmul((scale * w).T, h, products) + (scale * b)[:, None])
        w, b = params[f"layers.{self.layers - 1}.weight"], params[f"layers.{self.layers - 1}.bias"]
        return (w.T @ h + b[:, None]).T

    def _kernel_layers(self, params: Params) -> list:
        """``((A_0, c_0), ..., (W, b))``: the sine layers' weights and biases times ``omega0 / pi``
        (each computes ``sin(pi (h A + c))``), then the linear output layer: the fused steps' input."""
        scale = self.omega0 / math.pi
        layers = []
        for i in range(self.layers):
            w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            layers.append((w, b) if i == self.layers - 1 else (scale * w, scale * b))
        return layers

    def fused_mse(self, params: Params, coords: jax.Array, values: jax.Array):
        """``(loss, per-channel MSE)`` of this SIREN fit to ``values (P, C)`` at ``coords (P, in)``.

        The loss is the mean over channels of the MSE, differentiable in ``params``; it is
        computed with its gradients by one fused kernel call: on a GPU backend with
        ``dense="auto"`` a Pallas kernel (``_pallas.siren_mse``), else the CPU kernel
        (``_dense.siren_mse``). Returns ``None`` where neither applies (then a task computes the
        loss from :meth:`apply`; both agree to float32 rounding), and for subclasses that override
        :meth:`apply`, whose loss must come from their own forward pass.
        """
        if type(self).apply is not Siren.apply:
            return None
        layers = self._kernel_layers(params)
        if _dense.use_pallas(self.dense):
            from arena.fields import _pallas  # Pallas loads only where a fit takes its step

            return _pallas.siren_mse(layers, coords, values, sine=self.sine)
        return _dense.siren_mse(layers, coords, values, self.dense, self.sine)

    def fused_bce(self, params: Params, coords: jax.Array, labels: jax.Array, index=None):
        """``(loss, logits)`` of this one-channel SIREN at ``coords (P, in)`` with ``labels (P,)``.

        With ``index`` (``(P,)`` integers) the points are ``coords[index]``, ``coords`` a pool,
        read by the kernel without a gathered copy. The loss is the mean binary cross-entropy
        with logits (``optax.sigmoid_binary_cross_entropy(...).mean()`` to float32 rounding),
        differentiable in ``params``; the logits ``(P,)`` come without gradient. One fused CPU
        kernel call computes them with every gradient (``_dense.siren_bce``). Returns ``None``
        where that kernel does not apply (``dense="pallas"`` included: that step is the image
        MSE's only), for ``out_dim != 1`` and for subclasses that override :meth:`apply`, as
        :meth:`fused_mse`.
        """
        if type(self).apply is not Siren.apply or self.out_dim != 1 or self.dense == "pallas":
            return None
        layers = self._kernel_layers(params)
        out = _dense.siren_bce(layers, coords, labels[:, None], index, self.dense, self.sine)
        return None if out is None else (out[0], out[1][:, 0])

    def hparams(self) -> dict:
        return hparams_of(self)
