"""Matrix products of neural-field layers, and the fused SIREN steps, through a CPU kernel.

Contract:

- :func:`matmul` computes ``a @ b`` for float32 matrices, :func:`siren_mse` a SIREN's image
  MSE with all its parameter gradients in one call (the fused step behind ``Siren.fused_mse``
  and ``ImageTask.loss``) and :func:`siren_bce` its occupancy loss (binary cross-entropy with
  logits, at each NeF's own points) with its logits and gradients (behind ``Siren.fused_bce``
  and ``ShapeTask.loss``). All run through ``_kernels/dense_cpu.cc`` (register-blocked AVX2 +
  FMA loops, registered with XLA through its typed FFI) where it can be used, else through XLA;
  the two agree to float32 rounding, not bit for bit, so a build records which one ran
  (``fit.dense`` in the manifest).
- Each NeF's products are computed on their own in a fixed order, so results do not depend on
  how NeFs are batched, chunked or placed on devices.
- The kernel is used on x86-64 Linux CPUs with AVX2 and FMA and a C++ compiler (``$CXX``, else
  ``g++``, ``c++`` or ``clang++``), on the CPU backend, unless ``ARENA_CPU_KERNELS=0``.
- Its column-wise loops run 16 lanes wide on CPUs with AVX-512F (path ``avx512``), else 8
  (``avx2``); :func:`vector_path` says which ran. Both give the same bits (every column lane by
  lane, its sums in the same order), so a dataset does not depend on it. ``ARENA_CPU_KERNELS``
  ``=avx2`` or ``=avx512`` forces one; ``=avx2-16`` runs the 16-lane code in pairs of AVX2
  registers, the same arithmetic as ``avx512``: how it is tested on CPUs without AVX-512. A
  library is used only after ``arena_kernel_selfcheck`` (the fused step against float64 loops)
  passes; a 16-lane build that fails falls back to ``avx2``, with a warning.
  ``dense="kernel"`` asks for it and raises :class:`ConfigError` saying why where it cannot be
  used; ``"auto"`` falls back to XLA (warning once when a compile failed); ``"xla"`` never uses it.
- It is compiled on first use against the headers that ship with jaxlib, by
  :func:`arena._native.build`, into the per-user cache (:func:`cache_dir`) as
  ``dense_cpu-<key>.so`` (the key also covers jaxlib's version). A failed compile names the
  command that failed and the compiler's last error line.

What the kernel and the fused step are worth is in docs/measurements.md
(``benchmarks/matmul_ceiling.py``, ``benchmarks/fit_ablation.py``); the fused step's gradients
are checked against XLA's autodiff of :meth:`Siren.apply` in ``tests/test_dense.py`` (image)
and ``tests/test_occupancy_kernel.py`` (occupancy).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp

from arena import _native
from arena.errors import ConfigError
from arena.fields import _sine

SOURCE = Path(__file__).with_name("_kernels") / "dense_cpu.cc"
FLAGS = _native.FLAGS
KINDS = ("auto", "kernel", "xla")
PATHS = {  # vector path -> the compile flags added to FLAGS
    "avx2": (),
    # tiles of 32 pixels, not 64: 4-5 % faster on an AVX-512 Xeon (tiles 16-48 alike); same bits.
    # avx2-16 is the same code in AVX2 registers (tiles included), so CPUs without AVX-512 test it
    "avx512": ("-mavx512f", "-DARENA_WIDTH=16", "-DARENA_TILE=32"),
    "avx2-16": ("-DARENA_WIDTH=16", "-DARENA_TILE=32"),
}
# GCC fuses a * b + c of vector operators into an FMA where it sees fit, and what it sees depends
# on inlining, which differs between paths; the source writes out every FMA it means instead.
CONTRACT = ("-ffp-contract=off",)
SELFCHECK_TOLERANCE = 1e-4  # arena_kernel_selfcheck's relative error; a correct build gives ~2e-6
_LOADED: list[ctypes.CDLL] = []  # XLA keeps the first registration for the life of the process
_PATH: list[str] = []  # the vector path of the registered library
_LOCK = threading.Lock()  # fits trace from one thread per device


cache_dir = _native.cache_dir  # where compiled kernels are kept, across processes and runs (per user)


def _build(cxx: str, path: str = "avx2") -> Path:
    """The cached kernel library of vector ``path`` for ``cxx`` (:func:`arena._native.build`; the
    key also covers jaxlib's version, whose FFI headers it is compiled against).

    Raises:
        RuntimeError: the compile failed; the message is one line naming the command.
    """
    import jaxlib

    return _native.build(cxx, SOURCE, name="dense_cpu", flags=(*FLAGS, *CONTRACT, *PATHS[path]),
                         include_dirs=[jax.ffi.include_dir()], extra=[jaxlib.__version__])


def _candidates() -> tuple[list[str], str]:
    """The vector paths to try, best first, from ``ARENA_CPU_KERNELS`` and the CPU: ``(paths, why
    none)``."""
    asked = os.environ.get("ARENA_CPU_KERNELS", "1").strip().lower()
    wide = "avx512f" in _native.cpu_flags()
    if asked in PATHS:
        if asked == "avx512" and not wide:
            return [], "ARENA_CPU_KERNELS=avx512 asks for AVX-512F, which this CPU lacks (use avx2 or avx2-16)"
        return [asked], ""
    if asked not in ("1", "", "auto", "on"):
        warnings.warn(f"arena: ARENA_CPU_KERNELS={asked!r} is not one of 0, 1, {', '.join(PATHS)}; "
                      "choosing the kernel's vector path from the CPU", stacklevel=4)
    return (["avx512", "avx2"] if wide else ["avx2"]), ""


def _selfcheck(lib: ctypes.CDLL) -> float:
    """The library's fused step against float64 loops: the largest relative error (NaN when broken)."""
    lib.arena_kernel_selfcheck.restype = ctypes.c_double
    return float(lib.arena_kernel_selfcheck())


@functools.cache
def _load() -> tuple[bool, str]:
    """Build, check, load and register the kernel once per process: ``(usable, why not)``."""
    why = _native.unavailable()
    if why:
        return False, why
    paths, why = _candidates()
    failed = []
    for path in paths:
        try:
            lib = ctypes.cdll.LoadLibrary(str(_build(_native.compiler(), path)))
        except (OSError, RuntimeError) as err:
            failed.append(f"{path}: {err}")
            continue
        error = _selfcheck(lib)
        if not error <= SELFCHECK_TOLERANCE:
            failed.append(f"{path}: the library failed its self-check (relative error {error:.1e} against "
                          f"float64, over {SELFCHECK_TOLERANCE:.0e})")
            continue
        if failed:
            warnings.warn(f"arena: the CPU kernel's {'; '.join(failed)}; using the {path} path", stacklevel=3)
        if not _LOADED:
            for name in ("arena_dense_nn", "arena_dense_nt", "arena_siren_mse", "arena_siren_bce"):
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
            _LOADED.append(lib)
            _PATH.append(path)
        return True, ""
    why = "; ".join(failed) or why
    warnings.warn(f"arena: the CPU dense kernel is unavailable, using XLA's products ({why})", stacklevel=3)
    return False, why


def vector_path() -> str | None:
    """The kernel's vector path in this process (``"avx2"``, ``"avx512"`` or ``"avx2-16"``; see
    :data:`PATHS`), loading it if needed; ``None`` where the kernel is not used."""
    with _LOCK:
        usable, _ = _load()
    return _PATH[0] if usable and _PATH else None


def check_kind(kind: str) -> None:
    """A ``ConfigError`` naming ``kind`` unless it is one of :data:`KINDS`."""
    if kind not in KINDS:
        raise ConfigError(f"Unknown dense implementation '{kind}'; use one of {', '.join(KINDS)}.")


def use_kernel(kind: str = "auto") -> bool:
    """Whether products of implementation ``kind`` run through the kernel (decided at trace time)."""
    check_kind(kind)
    if kind == "xla":
        return False
    on_cpu = jax.default_backend() == "cpu"
    if on_cpu:
        with _LOCK:
            usable, why = _load()
    else:
        usable, why = False, f"the default backend is {jax.default_backend()}"
    if kind == "kernel" and not (on_cpu and usable):
        raise ConfigError(f"dense='kernel' needs the CPU kernel, but {why}; use dense='auto'.")
    return usable


def use_pallas(kind: str = "auto") -> bool:
    """Whether SIREN's fused image step runs the Pallas kernel (:mod:`arena.fields._pallas`):
    ``"pallas"`` anywhere, ``"auto"`` on a GPU backend unless ``ARENA_GPU_KERNELS=0`` (read when
    a fit is traced, like ``ARENA_CPU_KERNELS``). Cheap: it loads no Pallas."""
    if kind == "pallas":
        return True
    return kind == "auto" and jax.default_backend() == "gpu" and os.environ.get("ARENA_GPU_KERNELS", "1") != "0"


def _call(target: str, shape, a, b):
    out = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.ffi.ffi_call(target, out, vmap_method="broadcast_all")(a, b)


def _nn(a, b):  # a (.., M, K) @ b (.., K, N)
    return _call("arena_dense_nn", a.shape[:-1] + b.shape[-1:], a, b)


def _nt(a, b):  # a (.., M, P) @ b (.., N, P)^T
    return _call("arena_dense_nt", a.shape[:-1] + b.shape[-2:-1], a, b)


@jax.custom_vjp
def _kernel_matmul(a, b):
    return _nn(a, b)


def _kernel_matmul_fwd(a, b):
    return _nn(a, b), (a, b)


def _kernel_matmul_bwd(residuals, g):
    a, b = residuals
    return _nt(g, b), _nn(jnp.swapaxes(a, -1, -2), g)


_kernel_matmul.defvjp(_kernel_matmul_fwd, _kernel_matmul_bwd)


def _siren_mse_call(layers, coords, values):
    flat = [x for layer in layers for x in layer]
    out = [jax.ShapeDtypeStruct(values.shape[-1:], jnp.float32)]
    out += [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in flat]
    mse, *grads = jax.ffi.ffi_call("arena_siren_mse", out, vmap_method="broadcast_all")(coords, values, *flat)
    return mse, tuple(zip(grads[::2], grads[1::2]))


@jax.custom_vjp
def _siren_mse(layers, coords, values):
    mse, _ = _siren_mse_call(layers, coords, values)
    return mse.mean(), mse


def _siren_mse_fwd(layers, coords, values):
    mse, grads = _siren_mse_call(layers, coords, values)
    return (mse.mean(), mse), grads  # the kernel computed the loss's gradients with the loss


def _siren_mse_bwd(grads, cotangents):
    g, _ = cotangents  # the per-channel MSE leaves siren_mse through stop_gradient: no cotangent
    return jax.tree.map(lambda x: g * x, grads), None, None


_siren_mse.defvjp(_siren_mse_fwd, _siren_mse_bwd)


def siren_mse(layers, coords, values, kind: str = "auto", sine: str = "auto"):
    """The MSE of a SIREN fit to ``values (P, C)`` at ``coords (P, in)``, through the fused kernel.

    ``layers`` is ``((A_0, c_0), ..., (W, b))``: the sine layers' weights ``(in_l, H)`` and
    biases ``(H,)`` already multiplied by ``omega0 / pi`` (each computes ``sin(pi (h A + c))``),
    then the linear output layer ``(H, C)``, ``(C,)``. Returns ``(loss, mse)``: the loss (the
    mean over channels of the per-channel MSE ``mse``, ``(C,)``), differentiable in ``layers``
    only, and ``mse`` without gradient; or ``None`` where the kernel does not apply (``kind`` and
    ``sine`` as for the SIREN, non-float32 inputs). One kernel call runs the forward pass, the
    error and every gradient, tile by tile of pixels in cache (see ``_kernels/dense_cpu.cc``).
    """
    arrays = [coords, values, *(x for layer in layers for x in layer)]
    if any(x.dtype != jnp.float32 for x in arrays) or _sine.resolve_pi(sine) is not _sine.sinpi:
        return None
    if not use_kernel(kind):
        return None
    loss, mse = _siren_mse(tuple(tuple(layer) for layer in layers), coords, values)
    return loss, jax.lax.stop_gradient(mse)


def _siren_bce_call(layers, points, index, labels):
    flat = [x for layer in layers for x in layer]
    out = [jax.ShapeDtypeStruct(labels.shape[-1:], jnp.float32), jax.ShapeDtypeStruct(labels.shape, jnp.float32)]
    out += [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in flat]
    call = jax.ffi.ffi_call("arena_siren_bce", out, vmap_method="broadcast_all")
    bce, logits, *grads = call(points, index, labels, *flat)
    return bce, logits, tuple(zip(grads[::2], grads[1::2]))


@jax.custom_vjp
def _siren_bce(layers, points, index, labels):
    bce, logits, _ = _siren_bce_call(layers, points, index, labels)
    return bce.mean(), logits


def _siren_bce_fwd(layers, points, index, labels):
    bce, logits, grads = _siren_bce_call(layers, points, index, labels)
    return (bce.mean(), logits), grads


def _siren_bce_bwd(grads, cotangents):
    g, _ = cotangents  # the logits leave siren_bce through stop_gradient: no cotangent
    return jax.tree.map(lambda x: g * x, grads), None, None, None


_siren_bce.defvjp(_siren_bce_fwd, _siren_bce_bwd)


def siren_bce(layers, coords, labels, index=None, kind: str = "auto", sine: str = "auto"):
    """The occupancy loss of a SIREN at ``coords (P, in)``, or at ``coords[index]``, fused.

    ``layers`` as for :func:`siren_mse`; ``labels (P, C)`` in [0, 1]. With ``index`` (``(P,)``
    integers), ``coords (M, in)`` is a pool and the points are its rows ``index`` (clamped to
    ``[0, M)``, as a gather), read by the kernel itself, tile by tile ahead of the compute,
    instead of a gathered copy. The loss is the mean over points and channels of the binary
    cross-entropy with logits, ``-y log sigmoid(z) - (1 - y) log sigmoid(-z)``, computed in the
    stable form ``y softplus(-z) + (1 - y) softplus(z)`` (``optax.sigmoid_binary_cross_entropy``
    to float32 rounding), differentiable in ``layers`` only. Returns ``(loss, logits)``, the
    logits ``(P, C)`` without gradient; or ``None`` where the kernel does not apply (as for
    :func:`siren_mse`). Each NeF runs at its own points: under ``vmap`` every argument may be
    batched. One kernel call runs the forward pass, the loss and every gradient.
    """
    arrays = [coords, labels, *(x for layer in layers for x in layer)]
    if any(x.dtype != jnp.float32 for x in arrays) or _sine.resolve_pi(sine) is not _sine.sinpi:
        return None
    if not use_kernel(kind):
        return None
    points = coords.shape[0] if index is None else index.shape[0]
    if labels.shape[:1] != (points,):
        raise ValueError(f"siren_bce needs labels (P, C) for P = {points} points; got labels {labels.shape}")
    index = jnp.arange(points, dtype=jnp.int32) if index is None else index.astype(jnp.int32)
    loss, logits = _siren_bce(tuple(tuple(layer) for layer in layers), coords, index, labels)
    return loss, jax.lax.stop_gradient(logits)


def matmul(a: jax.Array, b: jax.Array, kind: str = "auto") -> jax.Array:
    """``a @ b`` for float32 matrices ``a (M, K)`` and ``b (K, N)``, differentiable in both.

    ``kind``: ``"auto"`` (the kernel where it can be used, else XLA), ``"kernel"`` (the kernel,
    or a ``ConfigError`` saying why not) or ``"xla"``.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (M, K) @ (K, N); got {a.shape} @ {b.shape}")
    if a.dtype != jnp.float32 or b.dtype != jnp.float32 or not use_kernel(kind):
        return a @ b
    return _kernel_matmul(a, b)
