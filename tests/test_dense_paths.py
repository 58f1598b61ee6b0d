"""The CPU kernel's vector paths: 8 lanes (avx2), 16 (avx512 where the CPU has AVX-512F, and the
same code in pairs of AVX2 registers, avx2-16, everywhere) give the same bits, every library passes
its self-check before use, and a path that cannot run or fails its check says so.

XLA keeps the first registration of a kernel for the life of a process, so each path runs in a
process of its own (``ARENA_CPU_KERNELS=<path>``); the tests run the paths this CPU has, and the
AVX2 path forced.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

from arena import _native
from arena.errors import ConfigError
from arena.fields import _dense

needs_kernel = pytest.mark.skipif(_native.unavailable() is not None, reason=f"no CPU kernel here: {_native.unavailable()}")
AVX512 = "avx512f" in _native.cpu_flags()
HERE = ["avx2", "avx2-16", *(["avx512"] if AVX512 else [])]

# The fused image step (two NeFs; 44 columns: full vectors and a masked tail at either width, 4
# lanes at 8 and 12 at 16; 100 pixels: a full and a part tile), the fused occupancy step at drawn
# points (32 NeFs: its loss rounds differently if a build fuses other products, see the kernel's
# -ffp-contract note), and the kernel's product with both gradients (arena_dense_nn, arena_dense_nt).
SCRIPT = r"""
import sys
import jax, jax.numpy as jnp, numpy as np
from arena.fields import _dense

rng = np.random.default_rng(0)
def r(*shape, s=1.0):
    return jnp.asarray(s * rng.standard_normal(shape), jnp.float32)
def siren(b, out):
    return ((r(b, 2, 44), r(b, 44)), (r(b, 44, 44, s=0.2), r(b, 44)), (r(b, 44, 44, s=0.2), r(b, 44)),
            (r(b, 44, out, s=0.2), r(b, out)))

coords, values = r(2, 100, 2), r(2, 100, 3)
loss = lambda ls, x, y: _dense.siren_mse(ls, x, y, "kernel")[0]
mse, mse_grads = jax.vmap(jax.value_and_grad(loss))(siren(2, 3), coords, values)
pool, labels = r(32, 300, 2), jnp.asarray(rng.random((32, 100, 1)) > 0.5, jnp.float32)
index = jnp.asarray(rng.integers(0, 300, (32, 100)), jnp.int32)
bce = lambda ls, x, i, y: _dense.siren_bce(ls, x, y, index=i, kind="kernel")[0]
bce_value, bce_grads = jax.vmap(jax.value_and_grad(bce))(siren(32, 1), pool, index, labels)
a, b = r(37, 44), r(44, 45)
product, product_grads = jax.value_and_grad(lambda a, b: (_dense.matmul(a, b, "kernel") ** 2).sum(), (0, 1))(a, b)
leaves = jax.tree.leaves((mse, mse_grads, bce_value, bce_grads, product, product_grads))
np.savez(sys.argv[1], *[np.asarray(x) for x in leaves])
print(_dense.vector_path())
"""


def _run_path(path: str, out) -> str:
    env = {**os.environ, "ARENA_CPU_KERNELS": path}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@needs_kernel
def test_every_vector_path_gives_the_same_bits_as_the_avx2_path(tmp_path):
    results = {}
    for path in HERE:
        assert _run_path(path, tmp_path / f"{path}.npz") == path
        with np.load(tmp_path / f"{path}.npz") as f:
            results[path] = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
    reference = results.pop("avx2")
    assert len(reference) == 21 and all(np.isfinite(x).all() for x in reference)
    for path, arrays in results.items():
        for i, (got, want) in enumerate(zip(arrays, reference, strict=True)):
            assert got.tobytes() == want.tobytes(), (path, i, np.abs(got - want).max())


@needs_kernel
@pytest.mark.parametrize("path", HERE)
def test_every_vector_path_passes_its_selfcheck_against_float64(path):
    lib = ctypes.CDLL(str(_dense._build(_native.compiler(), path)))
    assert lib.arena_kernel_width() == (8 if path == "avx2" else 16)
    assert _dense._selfcheck(lib) < 2e-5  # ~2e-6: the polynomial sine and float32 sums


@needs_kernel
@pytest.mark.parametrize("poison", ["NAN", "1e3f"])
def test_the_selfcheck_fails_a_build_whose_gradient_is_nan_or_wrong(poison, tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(_dense, "FLAGS", (*_dense.FLAGS, f"-DARENA_SELFCHECK_POISON={poison}"))
    lib = ctypes.CDLL(str(_dense._build(_native.compiler(), "avx2")))
    assert not _dense._selfcheck(lib) <= _dense.SELFCHECK_TOLERANCE


@needs_kernel
def test_a_sixteen_lane_library_failing_its_selfcheck_falls_back_to_avx2_saying_why(fresh_kernel_state):
    fresh_kernel_state.setattr(_dense, "_candidates", lambda: (["avx2-16", "avx2"], ""))
    real = _dense._selfcheck
    fresh_kernel_state.setattr(_dense, "_selfcheck", lambda lib: float("nan") if lib.arena_kernel_width() == 16 else real(lib))
    with pytest.warns(UserWarning, match=r"avx2-16: the library failed its self-check \(relative error nan.*using the avx2 path"):
        assert _dense.use_kernel("kernel")


@needs_kernel
def test_a_kernel_failing_every_selfcheck_is_not_used(fresh_kernel_state):
    fresh_kernel_state.setattr(_dense, "_selfcheck", lambda lib: 0.5)
    with pytest.warns(UserWarning, match="using XLA's products .*self-check"):
        assert not _dense.use_kernel("auto")
    with pytest.raises(ConfigError, match="self-check"):
        _dense.use_kernel("kernel")


@needs_kernel
@pytest.mark.skipif(AVX512, reason="this CPU has AVX-512F")
def test_forcing_avx512_on_a_cpu_without_it_says_so(fresh_kernel_state):
    fresh_kernel_state.setenv("ARENA_CPU_KERNELS", "avx512")
    with pytest.warns(UserWarning, match="lacks"):
        assert not _dense.use_kernel("auto")
    with pytest.raises(ConfigError, match="ARENA_CPU_KERNELS=avx512 asks for AVX-512F, which this CPU lacks"):
        _dense.use_kernel("kernel")


@needs_kernel
def test_an_unknown_kernel_setting_is_named_and_the_cpu_decides(fresh_kernel_state):
    fresh_kernel_state.setenv("ARENA_CPU_KERNELS", "avx1024")
    with pytest.warns(UserWarning, match="ARENA_CPU_KERNELS='avx1024' is not one of 0, 1, avx2, avx512, avx2-16"):
        paths, _ = _dense._candidates()
    assert paths == (["avx512", "avx2"] if AVX512 else ["avx2"])
