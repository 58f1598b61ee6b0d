"""The fused SIREN image step for GPUs: one Pallas kernel (Triton lowering) per loss evaluation.

Contract:

- :func:`siren_mse` takes and returns what :func:`arena.fields._dense.siren_mse` does: ``layers``
  ``((A_0, c_0), ..., (W, b))`` with the sine layers' weights and biases already multiplied by
  ``omega0 / pi`` (each computes ``sin(pi (h A + c))``), then the linear output layer; it returns
  ``(loss, mse)`` (the mean over channels of the per-channel MSE, differentiable in ``layers``
  only, and the per-channel MSE ``(C,)`` without gradient), or ``None`` for non-float32 inputs.
  ``Siren.fused_mse`` runs it where :func:`selected` says so: ``dense="auto"`` on a GPU backend
  (``ARENA_GPU_KERNELS=0`` opts out, for a build too), and ``dense="pallas"`` on any
  (interpreted off GPUs: how tests and dry runs force it).
- One kernel launch computes the forward pass, the error, the MSE and every parameter gradient.
  It is written for one NeF with a grid over ``groups`` groups of point tiles; under ``vmap``
  Pallas prepends the NeF axis, so a batched fit launches one grid ``(NeF, group)``.
- Each program loops over its group's tiles of ``tile`` points. A tile's activations and their
  sine derivatives stay on chip (registers, spilling to shared memory); the gradients and the
  squared-error sums accumulate in the loop's carry, also on chip, and are written once per
  program. The groups' partial sums are added by XLA in a fixed order, so the result is
  deterministic and one NeF gets the same numbers alone or in a batch.
- Triton needs power-of-two tensor sizes and dots of at least 16 x 16 x 16: every width (input,
  hidden, output) is padded with zeros to a power of two >= 16 and the points to whole tiles.
  Zero weights and biases make a padded unit's activation ``sin(0) = 0`` with no path to the
  output; padded points are masked out of the error, so they change nothing.
- Precision: products in exact float32 (``Precision.HIGHEST``, IEEE on Triton) unless
  ``precision="tensorfloat32"``, or ``precision=None`` inside
  ``jax.default_matmul_precision("tensorfloat32")`` (how a fit asks for TF32): then TF32 inputs.
- The sine is that of ``Siren.apply`` for the same ``sine`` (:func:`arena.fields._sine.resolve_pi`):
  the polynomial of ``_sine.sinpi`` where that resolves to it (CPU), else the native sine.
- ``interpret=None`` runs the kernel in Pallas's interpreter unless the default backend is a GPU;
  tests check the kernel that way against XLA's autodiff of ``Siren.apply``
  (``tests/test_pallas_step.py``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from arena.fields import _sine

PRECISIONS = ("float32", "tensorfloat32")


def selected(dense: str) -> bool:
    """Whether ``Siren.fused_mse`` with ``dense`` runs this kernel: ``"auto"`` on a GPU backend
    (unless ``ARENA_GPU_KERNELS=0``), ``"pallas"`` anywhere (interpreted off GPUs)."""
    from arena.fields import _dense

    return _dense.use_pallas(dense)


def _pow2(n: int, least: int = 16) -> int:
    return max(least, 1 << max(0, int(n) - 1).bit_length())


def _dot(a, b, contract, precision):
    dims = (contract, ((), ()))
    return lax.dot_general(a, b, dims, precision=precision, preferred_element_type=jnp.float32)


def _horner(coefs, f2):
    p = coefs[-1]
    for c in coefs[-2::-1]:
        p = p * f2 + c
    return p


def _sine_and_slope(u, poly: bool):
    """``sin(pi u)`` and its derivative ``pi cos(pi u)``, as ``Siren.apply``'s sine computes them."""
    if poly:  # _sine.sinpi's reduction; floor(u + 1/2) for round(u) (Triton has no round)
        k = jnp.floor(u + 0.5)
        f = u - k
        f2 = f * f
        sign = 1.0 - 2.0 * (k - 2.0 * jnp.floor(0.5 * k))
        return sign * (f * _horner(_sine._SIN, f2)), (math.pi * sign) * _horner(_sine._COS, f2)
    return jnp.sin(math.pi * u), math.pi * jnp.cos(math.pi * u)


def _kernel(x_ref, v_ref, *refs, layers, tile, tiles, points, channels, poly, precision):
    """One program: one NeF's group of ``tiles`` point tiles; writes that group's partial sums."""
    params = [r[...] for r in refs[: 2 * layers]]
    sq_ref, grad_refs = refs[2 * layers], refs[2 * layers + 1:]
    weights, biases = params[0::2], params[1::2]
    nn, tn, nt = ((1,), (0,)), ((0,), (0,)), ((1,), (1,))  # a @ b, a.T @ b, a @ b.T
    first = pl.program_id(0) * tiles
    scale = 2.0 / (points * channels)  # d loss / d y = 2 e / (P C)

    def step(i, carry):
        sq, grads = carry
        start = pl.multiple_of(i * tile, tile)
        h = x_ref[pl.ds(start, tile), :]
        v = v_ref[pl.ds(start, tile), :]
        inputs, slopes = [], []
        for w, b in zip(weights[:-1], biases[:-1]):
            inputs.append(h)
            h, slope = _sine_and_slope(_dot(h, w, nn, precision) + b[None, :], poly)
            slopes.append(slope)
        y = _dot(h, weights[-1], nn, precision) + biases[-1][None, :]
        index = (first + i) * tile + lax.broadcasted_iota(jnp.int32, (tile, 1), 0)
        e = jnp.where(index < points, y - v, 0.0)  # padded points carry no error
        sq = sq + jnp.sum(e * e, axis=0)
        d = scale * e
        new = [_dot(h, d, tn, precision), jnp.sum(d, axis=0)]
        for layer in range(layers - 2, -1, -1):
            d = _dot(d, weights[layer + 1], nt, precision) * slopes[layer]
            new[:0] = [_dot(inputs[layer], d, tn, precision), jnp.sum(d, axis=0)]
        return sq, tuple(g + n for g, n in zip(grads, new))

    zeros = tuple(jnp.zeros(p.shape, jnp.float32) for p in params)
    sq, grads = lax.fori_loop(0, tiles, step, (jnp.zeros(sq_ref.shape, jnp.float32), zeros))
    sq_ref[...] = sq
    for ref, g in zip(grad_refs, grads):
        ref[...] = g


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _fused(layers, coords, values, config):
    mse, _ = _call(layers, coords, values, config)
    return mse.mean(), mse


def _fused_fwd(layers, coords, values, config):
    mse, grads = _call(layers, coords, values, config)
    return (mse.mean(), mse), grads  # the kernel computed the loss's gradients with the loss


def _fused_bwd(config, grads, cotangents):
    g, _ = cotangents  # the per-channel MSE leaves siren_mse through stop_gradient
    return jax.tree.map(lambda x: g * x, grads), None, None


_fused.defvjp(_fused_fwd, _fused_bwd)


def _call(layers, coords, values, config):
    """``(mse (C,), gradients of the loss in the layers' structure)`` from one ``pallas_call``."""
    poly, precision, interpret, tile, groups, num_warps = config
    points, channels = values.shape
    dims = [coords.shape[1]] + [w.shape[1] for w, _ in layers]
    padded = [_pow2(n) for n in dims]
    span = tile * groups
    rows = -(-points // span) * span
    x = jnp.pad(coords, ((0, rows - points), (0, padded[0] - dims[0])))
    v = jnp.pad(values, ((0, rows - points), (0, padded[-1] - channels)))
    flat = []
    for i, (w, b) in enumerate(layers):
        flat += [jnp.pad(w, ((0, padded[i] - dims[i]), (0, padded[i + 1] - dims[i + 1]))),
                 jnp.pad(b, (0, padded[i + 1] - dims[i + 1]))]

    def whole(shape):
        return pl.BlockSpec(shape, lambda g: (0,) * len(shape))

    def per_group(shape):  # one partial sum per group: a leading group axis, squeezed in the kernel
        return pl.BlockSpec((None, *shape), lambda g: (g,) + (0,) * len(shape))

    group_rows = rows // groups
    in_specs = [pl.BlockSpec((group_rows, padded[0]), lambda g: (g, 0)),
                pl.BlockSpec((group_rows, padded[-1]), lambda g: (g, 0))]
    in_specs += [whole(p.shape) for p in flat]
    out_shapes = [(padded[-1],)] + [p.shape for p in flat]
    kernel = functools.partial(_kernel, layers=len(layers), tile=tile, tiles=group_rows // tile,
                               points=points, channels=channels, poly=poly, precision=precision)
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        compiler_params = pltriton.CompilerParams(num_warps=num_warps, num_stages=1)
    sq, *grads = pl.pallas_call(
        kernel,
        grid=(groups,),
        in_specs=in_specs,
        out_specs=[per_group(s) for s in out_shapes],
        out_shape=[jax.ShapeDtypeStruct((groups, *s), jnp.float32) for s in out_shapes],
        interpret=interpret,
        compiler_params=compiler_params,
        name="arena_siren_mse_pallas",
    )(x, v, *flat)
    sq, grads = sq.sum(axis=0), [g.sum(axis=0) for g in grads]  # groups in a fixed order
    out = []
    for i, (w, b) in enumerate(layers):
        gw, gb = grads[2 * i], grads[2 * i + 1]
        out.append((gw[: w.shape[0], : w.shape[1]], gb[: b.shape[0]]))
    return sq[:channels] / points, tuple(out)


def _matmul_precision(precision: str | None):
    if precision is None:
        asked = jax.config.jax_default_matmul_precision
        precision = "tensorfloat32" if asked == "tensorfloat32" else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision '{precision}' for the Pallas SIREN step; "
                         f"use one of {', '.join(PRECISIONS)}.")
    return lax.Precision.HIGHEST if precision == "float32" else lax.Precision.DEFAULT


def siren_mse(layers, coords, values, *, sine: str = "auto", precision: str | None = None,
              interpret: bool | None = None, tile: int | None = None, groups: int = 1, num_warps: int = 4):
    """The MSE of a SIREN fit to ``values (P, C)`` at ``coords (P, in)``, through the Pallas kernel.

    Args:
        layers: ``((A_0, c_0), ..., (W, b))`` as for :func:`arena.fields._dense.siren_mse`.
        coords: ``(P, in)`` float32 points; values: ``(P, C)`` float32 targets.
        sine: the SIREN's ``sine`` (``"auto"``, ``"poly"`` or ``"xla"``).
        precision: ``"float32"`` (exact), ``"tensorfloat32"``, or ``None``: TF32 only inside
            ``jax.default_matmul_precision("tensorfloat32")``.
        interpret: run in Pallas's interpreter (any backend); ``None``: unless on a GPU.
        tile: points per tile, a power of two >= 16 (default 64, fewer for small ``P``).
        groups: programs per NeF, each looping over ``ceil(P / tile / groups)`` tiles.
        num_warps: Triton warps per program (GPU only).

    Returns:
        ``(loss, mse)`` as ``_dense.siren_mse`` returns them, or ``None`` for non-float32 inputs.
    """
    arrays = [coords, values, *(x for layer in layers for x in layer)]
    if any(x.dtype != jnp.float32 for x in arrays):
        return None
    if coords.ndim != 2 or values.ndim != 2 or coords.shape[0] != values.shape[0] or coords.shape[0] == 0:
        raise ValueError("siren_mse needs coords (P, in) and values (P, C) with the same P > 0; "
                         f"got {coords.shape} and {values.shape}.")
    if tile is None:
        tile = min(64, _pow2(coords.shape[0]))
    if tile < 16 or tile & (tile - 1):
        raise ValueError(f"tile must be a power of two >= 16; got {tile}")
    if groups < 1:
        raise ValueError(f"groups must be at least 1; got {groups}")
    poly = _sine.resolve_pi(sine) is _sine.sinpi
    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    config = (poly, _matmul_precision(precision), bool(interpret), int(tile), int(groups), int(num_warps))
    loss, mse = _fused(tuple(tuple(layer) for layer in layers), coords, values, config)
    return loss, jax.lax.stop_gradient(mse)
