"""A fast, accurate sine for XLA on CPU.

XLA:CPU lowers ``jnp.sin`` to a scalar routine that is not vectorised (measured here about 5x
slower than the polynomial below), and the sine is the activation of SIREN and MFN: it dominates
a CPU fit. The core is :func:`sinpi`, ``sin(pi * u)``: the argument reduction is then exact
(``k = round(u)``, ``f = u - k`` in [-1/2, 1/2], no rounding), and near-minimax polynomials of
degree 9 (sine) and 8 (cosine) in ``f`` finish it in a few fused multiply-adds that vectorise.
Layers fold the ``omega0 / pi`` factor into their weights, so the activation costs nothing
beyond the polynomial. The derivative is given with ``custom_jvp`` and shares the reduction, so
the backward pass is as cheap as the forward one.

Accuracy (float32, pinned by ``tests/test_sine.py``): :func:`sinpi` is within 3e-7 of a float64
reference everywhere; :func:`sin` (``sinpi(x / pi)``) within 1e-5 for |x| <= 100, which is one
float32 ulp of the argument there (rounding ``x / pi`` dominates).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# least-squares fits on Chebyshev nodes of [-1/2, 1/2]: max error 3.4e-9 (sin) and 4.7e-8 (cos)
_SIN = (3.1415925797560846, -5.167706862999895, 2.550031140296041, -0.5980438695035822,
        0.07721773734022513)
_COS = (0.9999999533181323, -4.934792830699702, 4.058411301006365, -1.3318760087995334,
        0.21968811421590026)


def _horner(coefs, f2):
    p = coefs[-1]
    for c in coefs[-2::-1]:
        p = p * f2 + c
    return p


def _reduce(u):
    k = jnp.round(u)
    f = u - k
    # (-1)^k as a float, exact for the |k| < 2**24 that float32 can hold distinctly
    sign = 1.0 - 2.0 * (k - 2.0 * jnp.floor(0.5 * k))
    return f, f * f, sign


@jax.custom_jvp
def sinpi(u):
    """``sin(pi * u)``, elementwise, vectorised on every backend."""
    f, f2, sign = _reduce(u)
    return sign * (f * _horner(_SIN, f2))


@sinpi.defjvp
def _sinpi_jvp(primals, tangents):
    (u,), (t,) = primals, tangents
    f, f2, sign = _reduce(u)
    return sign * (f * _horner(_SIN, f2)), (math.pi * sign) * _horner(_COS, f2) * t


def cospi(u):
    """``cos(pi * u)``, elementwise, with the same reduction as :func:`sinpi`."""
    f, f2, sign = _reduce(u)
    return sign * _horner(_COS, f2)


def sin(x):
    """Elementwise sine, a drop-in for ``jnp.sin`` on float32 (differentiable)."""
    return sinpi(x * (1.0 / math.pi))


def cos(x):
    """Elementwise cosine, a drop-in for ``jnp.cos`` on float32."""
    return cospi(x * (1.0 / math.pi))


def resolve_pi(kind: str):
    """``sin(pi * u)`` for the implementation ``kind``: ``"poly"``, ``"xla"`` or ``"auto"``.

    ``"auto"`` picks the polynomial on CPU and ``jnp.sin`` elsewhere (on GPU and TPU the native
    sine is fast and the polynomial buys nothing).
    """
    if kind == "poly" or (kind == "auto" and jax.default_backend() == "cpu"):
        return sinpi
    if kind in ("xla", "auto"):
        return lambda u: jnp.sin(math.pi * u)
    raise ValueError(f"Unknown sine implementation '{kind}'; use 'auto', 'poly' or 'xla'.")
