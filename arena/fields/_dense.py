"""Matrix products of neural-field layers through a hand-written CPU kernel.

A SIREN fit spends most of its FLOPs in three small products per NeF and step (for the MNIST
SIREN, 32x32 @ 32x784 forward, and its two gradients), vmapped over the few NeFs a device holds.
``_kernels/dense_cpu.cc`` does them with register-blocked AVX2 loops that keep the reused operand
in L1, registered with XLA through its typed FFI. On one core here they ran at 80-86 % of a large
GEMM's rate against XLA's 69-73 % (two runs of ``benchmarks/matmul_ceiling.py``), and the MNIST
fit is 1.13x faster with them (``benchmarks/fit_ablation.py``, paired rounds).

The kernel is compiled on first use with the system's C++ compiler against the headers that ship
with jaxlib, into a cache (``$ARENA_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/arena/kernels``, else
``~/.cache/arena/kernels``), a few seconds once per jaxlib version. Where it cannot be used (not
x86-64 with AVX2 and FMA, not Linux, no compiler, a non-CPU backend, or
``ARENA_CPU_KERNELS=0``) the products are XLA's, the same function to float32 rounding.

Each NeF's product is computed on its own in a fixed order, so results do not depend on how NeFs
are batched, chunked or placed on devices.

The same library holds the **fused SIREN image step** (:func:`siren_mse`, used by
``ImageTask.loss`` through ``Siren.fused_mse``): one call per step computes a block's forward
pass, MSE and every parameter gradient. Between the three products, XLA made separate passes
(bias, sine, cosine, bias sums) over all of a block's activations, megabytes that do not fit in
cache, and those passes were bound by memory traffic. The kernel instead takes each NeF tile by
tile of 64 pixels through every layer and back, so a tile's activations stay in L1 and only the
gradients accumulate across tiles. Measured with ``benchmarks/fit_ablation.py``
(``unfused-step``) and ``benchmarks/fit_throughput.py`` (README). Its gradients agree with XLA's
autodiff of :meth:`Siren.apply` to float32 rounding (``tests/test_dense.py``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp

from arena.errors import ConfigError
from arena.fields import _sine

SOURCE = Path(__file__).with_name("_kernels") / "dense_cpu.cc"
FLAGS = ("-O3", "-mavx2", "-mfma", "-std=c++17", "-fPIC", "-shared", "-w")
KINDS = ("auto", "kernel", "xla")
_LOADED: list[ctypes.CDLL] = []  # XLA keeps the first registration for the life of the process
_LOCK = threading.Lock()  # fits trace from one thread per device


def cache_dir() -> Path:
    if os.environ.get("ARENA_KERNEL_CACHE"):
        return Path(os.environ["ARENA_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "arena" / "kernels"


def _cpu_has_avx2_fma() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _build(cxx: str) -> Path:
    """Compile the kernel into the cache (once per source, flags and jaxlib) and return its path."""
    import jaxlib
    from filelock import FileLock

    tag = hashlib.sha256(
        SOURCE.read_bytes() + " ".join(FLAGS).encode() + jaxlib.__version__.encode()
    ).hexdigest()[:16]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"dense_cpu-{tag}.so"
    with FileLock(str(target) + ".lock"):
        if not target.exists():
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
            os.close(fd)
            try:
                cmd = [cxx, *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                    raise RuntimeError(f"{cxx} failed: {last}")
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    return target


@functools.cache
def _load() -> tuple[bool, str]:
    """Build, load and register the kernel once per process: ``(usable, why not)``."""
    if os.environ.get("ARENA_CPU_KERNELS", "1") == "0":
        return False, "ARENA_CPU_KERNELS=0 turns it off"
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return False, f"it is built for x86-64 Linux (this is {sys.platform} on {platform.machine()})"
    if not _cpu_has_avx2_fma():
        return False, "this CPU lacks AVX2 or FMA"
    cxx = _compiler()
    if cxx is None:
        return False, "no C++ compiler was found (set CXX, or install g++)"
    try:
        lib = ctypes.cdll.LoadLibrary(str(_build(cxx)))
    except (OSError, RuntimeError) as err:
        warnings.warn(f"arena: the CPU dense kernel is unavailable, using XLA's products ({err})", stacklevel=3)
        return False, str(err)
    if not _LOADED:
        for name in ("arena_dense_nn", "arena_dense_nt", "arena_siren_mse"):
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
        _LOADED.append(lib)
    return True, ""


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
