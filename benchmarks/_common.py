"""Shared helpers for the benchmarks: the raw source files on disk and the machine's matmul peak.

The raw source files are read from the folder ``$ARENA_DATA`` names (holding ``mnist/``,
``cifar10/``, ``microimagenet/``, ``modelnet10/``), or from a path given explicitly; there is no
default location.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import numpy as np

DATA_ENV = "ARENA_DATA"


def data_dir() -> Path:
    """The folder of raw source files, ``$ARENA_DATA``; exits with one line saying so when unset."""
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        raise SystemExit(f"This benchmark reads raw source files: set {DATA_ENV} to the folder holding "
                         "mnist/, cifar10/, microimagenet/ and modelnet10/ (or pass the file's path).")
    return Path(value).expanduser()


def mnist_images(n: int | None = None, root: Path | None = None) -> np.ndarray:
    """The first ``n`` official MNIST training images (uint8, (n, 28, 28)), then the test images.

    ``root`` is the folder of the four IDX files (default ``$ARENA_DATA/mnist``).
    """
    root = data_dir() / "mnist" if root is None else Path(root)
    parts = []
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        with gzip.open(root / name) as f:
            parts.append(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28))
    images = np.concatenate(parts)
    return images if n is None else images[:n]


def best_seconds(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak_gflops(size: int = 2048, accelerator_size: int = 8192, precision: str = "float32") -> dict[str, float]:
    """GEMM GFLOP/s of numpy, torch and JAX on ``size x size`` float32 matrices (best of 3 each).

    JAX's GEMM runs at ``precision`` (a fit's matmul precision: ``"tensorfloat32"`` measures a
    GPU's TF32 peak, the one a TF32 fit aims at); numpy and torch (on the CPU) run float32.

    When JAX's default backend is an accelerator, its GEMM runs on ``accelerator_size`` square
    matrices instead: a 2048 GEMM takes a GPU well under a millisecond, so launch and sync
    overhead would understate its peak (and flatter the fit's share of it).
    """
    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = {}
    a @ b
    out["numpy"] = flops / best_seconds(lambda: a @ b) / 1e9
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        ta @ tb
        out["torch"] = flops / best_seconds(lambda: ta @ tb) / 1e9
    except ImportError:
        pass
    import jax
    import jax.numpy as jnp

    if jax.default_backend() != "cpu" and accelerator_size != size:
        flops = 2.0 * accelerator_size**3
        a = rng.standard_normal((accelerator_size, accelerator_size), dtype=np.float32)
        b = rng.standard_normal((accelerator_size, accelerator_size), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    # explicit: on a GPU the default precision may round the operands to TF32, which would
    # measure a peak a float32 fit never aims at
    mm = jax.jit(lambda x, y: jnp.matmul(x, y))
    with jax.default_matmul_precision(precision):  # part of jit's cache key: time inside it too
        mm(ja, jb).block_until_ready()
        out["jax"] = flops / best_seconds(lambda: mm(ja, jb).block_until_ready()) / 1e9
    return out
