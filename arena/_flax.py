"""A dataset's NeFs as flax linen modules (``arena.interop.to_flax``; needs the ``flax`` extra).

fit-a-nef fits its NeFs with flax linen, so the Arena gives the same: :func:`to_flax` returns a
``flax.linen.Module`` for a dataset's architecture, :func:`to_flax_params` turns flat parameter
rows into its variables, and :func:`from_flax_params` turns them back.

Contract:

- ``module.apply(to_flax_params(split.params[i], split.info), coords)`` equals
  ``split.field(i)(coords)`` to float32 rounding, for SIREN, RFFNet and MFN, at coordinates of
  any shape ``(..., in_dim)``, on every backend (products at full float32 precision, never
  TF32). The modules compute what the numpy forward pass computes, in the same float32 order: SIREN folds ``omega0 / pi`` into each hidden layer's kernel and bias and
  takes ``sin(pi u)`` with an exact argument reduction, RFFNet takes ``sin(2 pi x B)`` as
  ``sin(pi * 2 x B)``, MFN's filters are ``sin(pi (x W + b) / pi)``.
- ``from_flax_params(to_flax_params(rows, info), info)`` returns ``rows`` bit for bit: the
  variables are the layout's tensors, copied, never rescaled.
- Variables are ``{"params": {...}}`` with one submodule per Arena tensor pair, named after it:
  ``layers.<l>.weight`` / ``.bias`` are ``layers_<l>`` ``kernel`` / ``bias`` (a flax ``Dense``'s
  names and ``(in, out)`` kernel orientation), ``filters.<i>.*`` are ``filters_<i>``, and RFFNet's
  ``embedding.weight`` is ``embedding`` ``kernel``. These are not fit-a-nef's names (nor, for
  RFFNet, its values: fit-a-nef stores the embedding without its ``std`` factor); fit-a-nef's own
  files are read with :func:`arena.interop.import_hdf5`.
- Rows ``(B, P)`` give variables with a leading ``B`` on every leaf, for
  ``jax.vmap(module.apply, in_axes=(0, None))``; a row ``(P,)`` gives one NeF's.
- ``module.init(key, coords)`` draws fresh parameters from the distributions of
  :mod:`arena.fields` (the random streams differ). RFFNet's embedding is held fixed by a
  ``stop_gradient`` unless the dataset's ``learnable_embedding`` is set, as in the Arena's fits.

Importing this module imports flax and JAX and changes no JAX setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np

from arena.errors import ConfigError, require

require("flax", "flax", "arena.interop.to_flax")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

Init = Callable[..., jax.Array]


def _sinpi(u: jax.Array) -> jax.Array:
    """``sin(pi u)`` with an exact argument reduction (the numpy forward pass's arithmetic)."""
    k = jnp.round(u)
    sign = 1 - 2 * (k - 2 * jnp.floor(0.5 * k))
    return sign * jnp.sin(jnp.pi * (u - k))


def _matmul(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` in full float32 on every backend (GPUs would otherwise use TF32)."""
    return jnp.matmul(x, w, precision=jax.lax.Precision.HIGHEST)


def _uniform(bound: float) -> Init:
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)

    return init


def _normal(std: float) -> Init:
    def init(key, shape, dtype=jnp.float32):
        return std * jax.random.normal(key, shape, dtype)

    return init


class Dense(nn.Module):
    """``x @ (scale * kernel) + scale * bias``, with a flax ``Dense``'s parameter names."""

    features: int
    kernel_init: Init
    bias_init: Init = nn.initializers.zeros_init()
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        if self.scale != 1.0:  # scaling the small kernel and bias, as the numpy pass does
            kernel, bias = self.scale * kernel, self.scale * bias
        y = _matmul(x, kernel)
        return y + jnp.broadcast_to(bias, y.shape)


class Siren(nn.Module):
    """SIREN: ``h = sin(omega0 (h W_l + b_l))`` per hidden layer, then a linear layer.

    Attributes:
        widths: each dense layer's output width, the last the output channels.
        omega0: the frequency factor before each sine.
    """

    widths: tuple[int, ...]
    omega0: float

    @nn.compact
    def __call__(self, coords: jax.Array) -> jax.Array:
        x = jnp.asarray(coords, jnp.float32)
        scale = self.omega0 / math.pi  # sin(omega0 z) = sin(pi * scale z)
        for i, width in enumerate(self.widths[:-1]):
            fan_in = x.shape[-1]
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.omega0
            x = _sinpi(Dense(width, _uniform(bound), scale=scale, name=f"layers_{i}")(x))
        last = len(self.widths) - 1
        bound = math.sqrt(6.0 / x.shape[-1]) / self.omega0
        return Dense(self.widths[-1], _uniform(bound), name=f"layers_{last}")(x)


class _Embedding(nn.Module):
    """RFFNet's frequency matrix ``B`` ``(in_dim, frequencies)``, drawn ``std * N(0, 1)``."""

    frequencies: int
    std: float

    @nn.compact
    def __call__(self, in_dim: int) -> jax.Array:
        return self.param("kernel", _normal(self.std), (in_dim, self.frequencies))


class RFFNet(nn.Module):
    """Random Fourier features ``[sin(2 pi x B), cos(2 pi x B)]``, then a ReLU MLP.

    Attributes:
        frequencies: columns of ``B`` (half the embedding width).
        widths: each dense layer's output width, the last the output channels.
        std: the scale of ``B`` at initialisation.
        learnable_embedding: let gradients reach ``B``.
    """

    frequencies: int
    widths: tuple[int, ...]
    std: float = 10.0
    learnable_embedding: bool = False

    @nn.compact
    def __call__(self, coords: jax.Array) -> jax.Array:
        x = jnp.asarray(coords, jnp.float32)
        b = _Embedding(self.frequencies, self.std, name="embedding")(x.shape[-1])
        if not self.learnable_embedding:
            b = jax.lax.stop_gradient(b)
        proj = 2.0 * _matmul(x, b)  # sin(2 pi x B) = sin(pi * 2 x B)
        x = jnp.concatenate([_sinpi(proj), _sinpi(proj + 0.5)], axis=-1)
        for i, width in enumerate(self.widths):
            if i:
                x = jnp.maximum(x, 0)
            x = Dense(width, _uniform(math.sqrt(6.0 / x.shape[-1])), name=f"layers_{i}")(x)
        return x


class MFN(nn.Module):
    """FourierNet: ``z_1 = g_1(x)``, ``z_{i+1} = (z_i W_i + b_i) g_{i+1}(x)``, ``y = z_k W_k + b_k``.

    Attributes:
        hidden: width of the filters and of the hidden state.
        filters: number of filters ``k``.
        out_dim: output channels.
        input_scale: the frequency scale of the filters at initialisation.
    """

    hidden: int
    filters: int
    out_dim: int
    input_scale: float = 16.0

    @nn.compact
    def __call__(self, coords: jax.Array) -> jax.Array:
        x = jnp.asarray(coords, jnp.float32)
        k, h = self.filters, self.hidden
        w_bound = math.sqrt(self.input_scale / (k - 1))

        def filt(i):  # sin(x w + phi) = sin(pi (x w + phi) / pi)
            layer = Dense(h, _uniform(w_bound), _uniform(math.pi), scale=1.0 / math.pi, name=f"filters_{i}")
            return _sinpi(layer(x))

        dense = _uniform(math.sqrt(6.0 / h))
        z = filt(0)
        for i in range(1, k):
            z = Dense(h, dense, name=f"layers_{i - 1}")(z) * filt(i)
        return Dense(self.out_dim, dense, name=f"layers_{k - 1}")(z)


# --------------------------------------------------------------------------------------------
# The dataset's architecture and its variables


def _info(target):
    from arena.data import field_info

    info = field_info(target)
    if info.arch is None:
        raise ConfigError(
            "A bare Layout does not say which architecture computes it; pass the dataset's "
            "manifest (split.info) or a Split."
        )
    return info


def _widths(layout, prefix: str = "layers") -> tuple[int, ...]:
    return tuple(layout.shape(f"{prefix}.{i}.bias")[0] for i in range(layout.depth(prefix)))


def to_flax(target) -> nn.Module:
    """The flax linen module of a dataset's NeF architecture.

    Args:
        target: the dataset's manifest, a :class:`arena.data.Split` or its ``FieldInfo``.

    Returns:
        A :class:`Siren`, :class:`RFFNet` or :class:`MFN`; ``module.apply(variables, coords)``
        maps ``(..., in_dim)`` to ``(..., out_dim)``.
    """
    info = _info(target)
    layout, hp = info.layout, info.hparams
    if info.arch == "siren":
        if "omega0" not in hp:
            raise ConfigError("A SIREN's manifest must give field.hparams.omega0.")
        return Siren(widths=_widths(layout), omega0=float(hp["omega0"]))
    if info.arch == "rffnet":
        return RFFNet(frequencies=layout.shape("embedding.weight")[1], widths=_widths(layout),
                      std=float(hp.get("std", 10.0)),
                      learnable_embedding=bool(hp.get("learnable_embedding", False)))
    if info.arch == "mfn":
        return MFN(hidden=layout.shape("filters.0.bias")[0], filters=layout.depth("filters"),
                   out_dim=info.out_dim, input_scale=float(hp.get("input_scale", 16.0)))
    raise ConfigError(f"No flax module for the architecture {info.arch!r}; there are siren, rffnet and mfn.")


def _leaf(name: str) -> tuple[str, str]:
    """``layers.0.weight`` -> ``("layers_0", "kernel")``; ``embedding.weight`` -> ``("embedding", "kernel")``."""
    *module, kind = name.split(".")
    return "_".join(module), {"weight": "kernel", "bias": "bias"}[kind]


def to_flax_params(params, target) -> dict[str, Any]:
    """Flat parameter rows as the variables of :func:`to_flax`'s module.

    Args:
        params: ``(P,)`` one NeF or ``(B, P)`` several, in layout order (``split.params[i]``,
            ``split.params[a:b]``).
        target: the dataset's manifest, a :class:`arena.data.Split` or its ``FieldInfo``.

    Returns:
        ``{"params": {module: {"kernel" | "bias": np.ndarray}}}``, float32 copies of the
        tensors, with the leading ``B`` of ``params`` on every leaf.
    """
    info = _info(target)
    flat = np.asarray(params)
    if flat.ndim not in (1, 2) or flat.shape[-1] != info.layout.num_params:
        raise ConfigError(
            f"Expected parameters of shape (P,) or (B, P) with P = {info.layout.num_params}; "
            f"got {flat.shape}. Pass split.params[i] or split.params[a:b]."
        )
    tree: dict[str, dict[str, np.ndarray]] = {}
    for name, tensor in info.layout.unflatten(flat).items():
        module, leaf = _leaf(name)
        tree.setdefault(module, {})[leaf] = np.array(tensor, np.float32)
    return {"params": tree}


def from_flax_params(tree: Mapping[str, Any], target) -> np.ndarray:
    """The module's variables back as flat rows in layout order, bit for bit.

    Args:
        tree: ``{"params": {...}}`` (or its ``"params"`` alone), every leaf with the same
            leading batch shape (none for one NeF).
        target: the dataset's manifest, a :class:`arena.data.Split` or its ``FieldInfo``.

    Returns:
        ``(P,)`` float32 for one NeF, ``(*batch, P)`` for a batch.
    """
    info = _info(target)
    inner = tree.get("params", tree) if isinstance(tree, Mapping) else None
    if not isinstance(inner, Mapping):
        raise ConfigError(f"Expected flax variables {{'params': {{...}}}}; got {type(tree).__name__}.")
    wanted = {"/".join(_leaf(name)) for name, _ in info.layout}
    given: set[str] = set()
    for module, leaves in inner.items():
        given |= {f"{module}/{leaf}" for leaf in leaves} if isinstance(leaves, Mapping) else {str(module)}
    if given != wanted:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        raise ConfigError(
            f"The flax parameters do not match this {info.arch}: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}. Pass what to_flax_params gives for this dataset."
        )
    pieces, batch = [], None
    for name, shape in info.layout:
        module, leaf = _leaf(name)
        value = np.asarray(inner[module][leaf])
        lead = value.shape[: value.ndim - len(shape)]
        if value.shape[len(lead):] != tuple(shape) or (batch is not None and lead != batch):
            raise ConfigError(
                f"flax parameter {module}/{leaf} has shape {value.shape}; expected "
                f"{(*(batch or ()), *shape)} (the layout's {name} {list(shape)}, after any batch axes)."
            )
        batch = lead
        pieces.append(value.astype(np.float32, copy=False).reshape(*lead, -1))
    return np.concatenate(pieces, axis=-1)


__all__ = ["MFN", "RFFNet", "Siren", "from_flax_params", "to_flax", "to_flax_params"]
