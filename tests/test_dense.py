"""The hand-written CPU kernel for the products of SIREN layers (arena/fields/_dense.py)."""

import os
import platform
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import fields
from arena.errors import ConfigError
from arena.fields import _dense


def _kernel_expected() -> bool:
    if not sys.platform.startswith("linux") or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = Path("/proc/cpuinfo").read_text().split()
    has_compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    return "avx2" in flags and "fma" in flags and bool(has_compiler)


needs_kernel = pytest.mark.skipif(
    not _kernel_expected(), reason="the kernel is built with a C++ compiler for x86-64 Linux with AVX2 and FMA"
)


@pytest.fixture
def fresh_kernel_state(monkeypatch):
    """Forget the process-wide build result before and after a test that changes the environment."""
    _dense._load.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    _dense._load.cache_clear()


def _random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@needs_kernel
def test_kernel_builds_and_siren_uses_it_on_this_cpu():
    assert _dense.use_kernel("kernel")
    field = fields.Siren(hidden=32, layers=3, omega0=30.0)
    params = field.init(jax.random.key(0))
    coords = jnp.zeros((784, 2), jnp.float32)
    hlo = jax.jit(field.apply).lower(params, coords).as_text()
    assert "arena_dense_nn" in hlo
    xla = fields.Siren(hidden=32, layers=3, omega0=30.0, dense="xla")
    assert "arena_dense_nn" not in jax.jit(xla.apply).lower(params, coords).as_text()


@needs_kernel
@pytest.mark.parametrize(
    "m,k,n",
    [(32, 32, 784), (1, 1, 1), (3, 7, 5), (5, 32, 23), (4, 3, 24), (33, 17, 25), (8, 32, 787), (7, 2, 16)],
)
def test_kernel_products_match_float64_on_ragged_shapes(m, k, n):
    a, b = _random((3, m, k), 0), _random((3, k, n), 1)
    ref = np.einsum("bij,bjk->bik", a.astype(np.float64), b.astype(np.float64))
    tol = 1e-5 * np.sqrt(k) * (np.abs(a).max() * np.abs(b).max())
    got = np.asarray(jax.jit(jax.vmap(lambda x, y: _dense.matmul(x, y, "kernel")))(a, b))
    assert np.abs(got - ref).max() < tol
    single = np.asarray(jax.jit(lambda x, y: _dense.matmul(x, y, "kernel"))(a[1], b[1]))
    np.testing.assert_array_equal(single, got[1])  # one NeF alone == the same NeF in a batch


@needs_kernel
@pytest.mark.parametrize("m,k,n", [(32, 32, 784), (5, 9, 13), (33, 31, 787)])
def test_kernel_gradients_match_float64(m, k, n):
    a, b, g = _random((m, k), 2), _random((k, n), 3), _random((m, n), 4)
    da, db = jax.jit(jax.grad(lambda x, y: jnp.sum(_dense.matmul(x, y, "kernel") * g), (0, 1)))(a, b)
    g64 = g.astype(np.float64)
    ref_da, ref_db = g64 @ b.astype(np.float64).T, a.astype(np.float64).T @ g64
    assert np.abs(np.asarray(da) - ref_da).max() < 1e-5 * np.sqrt(n) * np.abs(ref_da).max()
    assert np.abs(np.asarray(db) - ref_db).max() < 1e-5 * np.sqrt(m) * np.abs(ref_db).max()


@needs_kernel
def test_siren_gives_the_same_field_and_gradients_with_kernel_or_xla_products():
    coords = jnp.asarray(_random((300, 2), 5))
    target = jnp.asarray(_random((300, 1), 6))
    results = {}
    for kind in ("kernel", "xla"):
        field = fields.Siren(hidden=24, layers=4, omega0=30.0, dense=kind)
        params = field.init(jax.random.key(1))
        loss = lambda p, f=field: jnp.mean((f.apply(p, coords) - target) ** 2)  # noqa: E731
        results[kind] = (field.apply(params, coords), jax.grad(loss)(params))
    np.testing.assert_allclose(results["kernel"][0], results["xla"][0], atol=2e-5)
    for name, grad in results["kernel"][1].items():
        np.testing.assert_allclose(grad, results["xla"][1][name], atol=2e-5, rtol=1e-4, err_msg=name)


def test_dense_is_an_implementation_choice_not_a_hyperparameter():
    assert fields.Siren(dense="xla").hparams() == fields.Siren(dense="auto").hparams()
    assert "dense" not in fields.Siren().hparams()


def test_unknown_dense_implementation_is_a_config_error():
    with pytest.raises(ConfigError, match="'fast'.*auto, kernel, xla"):
        fields.Siren(dense="fast")


def test_kernel_switched_off_falls_back_to_xla_and_says_why(fresh_kernel_state):
    fresh_kernel_state.setenv("ARENA_CPU_KERNELS", "0")
    assert not _dense.use_kernel("auto")
    with pytest.raises(ConfigError, match="ARENA_CPU_KERNELS=0"):
        _dense.use_kernel("kernel")
    field = fields.Siren(hidden=8, layers=3, omega0=30.0)
    params = field.init(jax.random.key(0))
    hlo = jax.jit(field.apply).lower(params, jnp.zeros((10, 2), jnp.float32)).as_text()
    assert "arena_dense" not in hlo


@needs_kernel
def test_failed_kernel_build_warns_falls_back_and_leaves_no_file(fresh_kernel_state, tmp_path):
    fresh_kernel_state.setenv("ARENA_KERNEL_CACHE", str(tmp_path))
    fresh_kernel_state.setenv("CXX", "false")  # a "compiler" that always fails
    with pytest.warns(UserWarning, match="using XLA's products"):
        assert not _dense.use_kernel("auto")
    with pytest.raises(ConfigError, match="false failed"):
        _dense.use_kernel("kernel")
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


@needs_kernel
def test_kernel_is_built_once_into_the_cache(fresh_kernel_state, tmp_path):
    fresh_kernel_state.setenv("ARENA_KERNEL_CACHE", str(tmp_path))
    assert _dense.use_kernel("kernel")
    built = sorted(tmp_path.glob("dense_cpu-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    _dense._load.cache_clear()
    assert _dense.use_kernel("kernel")
    assert built[0].stat().st_mtime_ns == stamp
