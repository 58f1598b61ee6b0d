"""How fast the matrix products of a SIREN fit can run here, against the large-GEMM peak.

A step of the MNIST SIREN fit (2->32->32->1, 784 pixels, feature-major) spends most of its
FLOPs in three products per NeF: the hidden layer's forward ``W^T H`` (32x32 @ 32x784), its
weight gradient ``dZ H^T`` (32x784 @ 784x32) and its input gradient ``W dZ`` (32x32 @ 32x784).
This script times those three products, batched over a block of 13 NeFs as the fitter runs
them, in numpy (OpenBLAS), torch, JAX (XLA) and the Arena's CPU kernel (``arena.fields._dense``,
called from JAX, where this CPU can use it), and the 2048x2048 GEMM in numpy and torch, all
single-threaded (XLA may still use its pool for a large GEMM, so its 2048 GEMM is left out).
The ratio of the two is the ceiling that the matrix products alone put on a fit's share of
the matmul peak, before any sine, bias, loss or optimizer work.

    python benchmarks/matmul_ceiling.py              # ~15 s

The last line is JSON: the best GFLOP/s of each product, of the 2048 GEMM, and their ratio.
"""

from __future__ import annotations

import json
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: the fitter runs one single-threaded XLA device per core

from arena import _xla  # noqa: E402

_xla.apply_for_command()  # before JAX starts: one single-threaded XLA device per core

from arena.fields import _dense  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from _common import best_seconds  # noqa: E402

NEFS, HIDDEN, PIXELS, SIZE = 13, 32, 784, 2048
REPS = 50  # products per timed call
# batched a @ b (b transposed where marked): W (n, 32, 32), activations and gradients (n, 32, 784);
# the small W is taken in whichever orientation suits, the weight gradient's transpose is inherent
PRODUCTS = {
    "forward W^T H": ((HIDDEN, HIDDEN), (HIDDEN, PIXELS), False),
    "weight grad dZ H^T": ((HIDDEN, PIXELS), (HIDDEN, PIXELS), True),
    "input grad W dZ": ((HIDDEN, HIDDEN), (HIDDEN, PIXELS), False),
}


def in_loop(product, a, b):
    """REPS products in one jitted loop, as inside a fit (XLA reuses the buffers between steps).

    Timed one call at a time, a product's 1.3 MB output is a fresh allocation whose page faults
    cost about as much as the product. A 1e-3-scaled corner of each output is written into the
    next input, in place, so no iteration can be hoisted out of the loop.
    """

    def body(_, x):
        c = product(x, b)
        return x.at[:, 0, 0].set(1e-3 * c[:, 0, 0])

    fn = jax.jit(lambda x: jax.lax.fori_loop(0, REPS, body, x))
    return lambda: fn(a).block_until_ready(), REPS


def timers(rng):
    """``{library: {product: (callable, n)}}``: each call runs n batched products or one 2048 GEMM."""
    out = {"numpy": {}}
    try:
        import torch

        torch.set_num_threads(1)
        out["torch"] = {}
    except ImportError:
        torch = None
    out["jax"] = {}  # after numpy and torch: XLA's pool threads may still spin briefly after a call
    kernel = _dense.use_kernel("auto")
    if kernel:
        out["arena"] = {}
    device = jax.devices()[0]
    for name, (a_shape, b_shape, transpose) in [*PRODUCTS.items(), ("GEMM 2048", ((SIZE, SIZE), (SIZE, SIZE), False))]:
        batch = () if name.startswith("GEMM") else (NEFS,)
        a = rng.standard_normal(batch + a_shape, dtype=np.float32)
        b = rng.standard_normal(batch + b_shape, dtype=np.float32)
        bt = np.swapaxes(b, -1, -2) if transpose else b  # a view: the libraries see a transposed operand
        n = 1 if name.startswith("GEMM") else REPS
        out["numpy"][name] = (lambda a=a, bt=bt, n=n: [a @ bt for _ in range(n)]), n
        if torch is not None:
            ta, tbt = torch.from_numpy(a), torch.from_numpy(b).transpose(-1, -2) if transpose else torch.from_numpy(b)
            out["torch"][name] = (lambda ta=ta, tbt=tbt, n=n: [ta @ tbt for _ in range(n)]), n
        if name.startswith("GEMM"):
            continue
        ja, jb = jax.device_put(a, device), jax.device_put(b, device)
        xla = lambda x, y, t=transpose: jnp.matmul(x, jnp.swapaxes(y, -1, -2) if t else y, precision="highest")  # noqa: E731
        out["jax"][name] = in_loop(xla, ja, jb)
        if kernel:
            out["arena"][name] = in_loop(_dense._nt if transpose else _dense._nn, ja, jb)
    return out


def flops(name: str) -> float:
    if name.startswith("GEMM"):
        return 2.0 * SIZE**3
    return 2.0 * NEFS * HIDDEN * HIDDEN * PIXELS


def main() -> None:
    rng = np.random.default_rng(0)
    rates: dict[str, dict[str, float]] = {}
    for library, products in timers(rng).items():
        rates[library] = {}
        for name, (fn, n) in products.items():
            fn()
            seconds = best_seconds(fn, repeats=15) / n
            rates[library][name] = flops(name) / seconds / 1e9
    names = [*PRODUCTS, "GEMM 2048"]
    print(f"one core, {NEFS} NeFs per batch; GFLOP/s")
    print(f"{'':22s}" + "".join(f"{lib:>9s}" for lib in rates))
    for name in names:
        print(f"{name:22s}" + "".join(f"{rates[lib].get(name, float('nan')):9.1f}" for lib in rates))
    best = {name: max(r[name] for r in rates.values() if name in r) for name in names}
    # the three products have equal FLOPs, so their joint rate is the harmonic mean
    joint = len(PRODUCTS) / sum(1.0 / best[name] for name in PRODUCTS)
    per_library = {lib: round(len(PRODUCTS) / sum(1.0 / r[name] for name in PRODUCTS), 1) for lib, r in rates.items()}
    ratio = joint / best["GEMM 2048"]
    print("the three products together: " + ", ".join(f"{lib} {rate:.1f}" for lib, rate in per_library.items()))
    print(f"best of the libraries: the three products together {joint:.1f} GFLOP/s = "
          f"{100 * ratio:.0f} % of the 2048 GEMM's {best['GEMM 2048']:.1f}")
    print(json.dumps({"products_gflops": {k: round(best[k], 1) for k in PRODUCTS}, "joint_gflops": round(joint, 1),
                      "joint_gflops_by_library": per_library,
                      "gemm2048_gflops": round(best["GEMM 2048"], 1), "ceiling_pct_of_gemm": round(100 * ratio, 1)}))


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
