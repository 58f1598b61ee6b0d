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
def test_failed_kernel_build_warns_in_one_line_naming_the_command_and_leaves_no_file(fresh_kernel_state, tmp_path):
    fresh_kernel_state.setenv("ARENA_KERNEL_CACHE", str(tmp_path))
    fresh_kernel_state.setenv("CXX", "false")  # a "compiler" that always fails
    with pytest.warns(UserWarning, match="using XLA's products") as warned:
        assert not _dense.use_kernel("auto")
    message = str(warned[0].message)
    assert "\n" not in message and "compiling the CPU kernel failed: `false -O3 -mavx2" in message
    assert str(_dense.SOURCE) in message and "exited with 1" in message
    with pytest.raises(ConfigError, match="`false -O3"):
        _dense.use_kernel("kernel")
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


FAKE_CXX = """#!/bin/sh
# a stand-in compiler: says its version, logs each compile and writes a fake library to -o
if [ "$1" = "--version" ]; then echo "fake-c++ VERSION"; exit 0; fi
echo "$@" >> "$(dirname "$0")/compiles.log"
while [ $# -gt 0 ]; do
  if [ "$1" = "-o" ]; then shift; printf 'library' > "$1"; fi
  shift
done
"""


def _fake_compiler(folder: Path, version: str = "1.0") -> Path:
    folder.mkdir(exist_ok=True)
    cxx = folder / "c++"
    cxx.write_text(FAKE_CXX.replace("VERSION", version))
    cxx.chmod(0o755)
    return cxx


def _compiles(cxx: Path) -> int:
    log = cxx.parent / "compiles.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_kernel_library_is_compiled_once_per_source_compiler_and_flags(fresh_kernel_state, tmp_path):
    cache = tmp_path / "cache"
    fresh_kernel_state.setenv("ARENA_KERNEL_CACHE", str(cache))
    cxx = _fake_compiler(tmp_path / "v1")
    first = _dense._build(str(cxx))
    assert first.parent == cache and first.read_bytes() == b"library" and _compiles(cxx) == 1
    assert _dense._build(str(cxx)) == first and _compiles(cxx) == 1  # a later run finds it: no compile
    newer = _fake_compiler(tmp_path / "v2", version="2.0")  # another compiler: another library
    assert _dense._build(str(newer)) != first and _compiles(newer) == 1
    fresh_kernel_state.setattr(_dense, "FLAGS", (*_dense.FLAGS, "-DARENA_TEST"))  # other flags: again
    assert _dense._build(str(cxx)) != first and _compiles(cxx) == 2
    edited = tmp_path / "dense_cpu.cc"
    edited.write_bytes(_dense.SOURCE.read_bytes() + b"\n// edited\n")
    fresh_kernel_state.setattr(_dense, "SOURCE", edited)  # another source: again
    assert _dense._build(str(cxx)) != first and _compiles(cxx) == 3
    assert {p.suffix for p in cache.iterdir()} <= {".so", ".lock"}  # written whole: no temporary left


def test_kernel_cache_is_per_user_and_outlives_the_process(fresh_kernel_state, tmp_path):
    fresh_kernel_state.delenv("ARENA_KERNEL_CACHE", raising=False)
    fresh_kernel_state.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _dense.cache_dir() == tmp_path / "arena" / "kernels"
    fresh_kernel_state.delenv("XDG_CACHE_HOME")
    assert _dense.cache_dir() == Path.home() / ".cache" / "arena" / "kernels"


# --- the fused SIREN image step (arena_siren_mse): forward, MSE and every gradient in one call

def _image_loss(field, params, height, width, values):
    from arena.fit import ImageTask

    task = ImageTask(height=height, width=width, channels=values.shape[-1], mean=(0.5,) * values.shape[-1],
                     std=(0.5,) * values.shape[-1])
    return task.loss(field, params, {"values": values}, None)


@needs_kernel
@pytest.mark.parametrize(
    "hidden,layers,out_dim,height,width",
    # width 32 (the MNIST SIREN); a width with a masked tail, 3 channels and a part-filled pixel
    # tile; the smallest SIREN; a width of 32 + 8 columns; a 64-pixel-tile multiple
    [(32, 3, 1, 28, 28), (17, 4, 3, 5, 7), (1, 2, 1, 1, 1), (40, 3, 3, 9, 11), (32, 3, 1, 8, 16)],
)
def test_fused_siren_step_matches_autodiff_of_the_unfused_siren(hidden, layers, out_dim, height, width):
    fused = fields.Siren(hidden=hidden, layers=layers, omega0=30.0, out_dim=out_dim)
    plain = fields.Siren(hidden=hidden, layers=layers, omega0=30.0, out_dim=out_dim, dense="xla")
    key = jax.random.key(3)
    params = jax.tree.map(lambda x: x + 0.02 * jax.random.normal(key, x.shape), fused.init(jax.random.key(0)))
    values = jnp.asarray(_random((height * width, out_dim), 5))

    def value_and_grad(field):
        fn = jax.value_and_grad(lambda p: _image_loss(field, p, height, width, values), has_aux=True)
        return jax.jit(fn)(params)

    (loss, psnr), grads = value_and_grad(fused)
    (ref_loss, ref_psnr), ref_grads = value_and_grad(plain)
    assert "arena_siren_mse" in jax.jit(lambda p: _image_loss(fused, p, height, width, values)).lower(params).as_text()
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=2e-6)
    np.testing.assert_allclose(float(psnr), float(ref_psnr), rtol=2e-6)
    for name in ref_grads:
        scale = float(jnp.abs(ref_grads[name]).max())
        assert float(jnp.abs(grads[name] - ref_grads[name]).max()) <= 2e-5 * scale, name


@needs_kernel
def test_fused_siren_step_of_one_nef_does_not_depend_on_its_batch():
    field = fields.Siren(hidden=32, layers=3, omega0=30.0)
    stacked = jax.vmap(field.init)(jax.random.split(jax.random.key(1), 5))
    values = jnp.asarray(_random((5, 28 * 28, 1), 6))

    def grads(p, v):
        return jax.grad(lambda q: _image_loss(field, q, 28, 28, v)[0])(p)

    batch = jax.jit(jax.vmap(grads))(stacked, values)
    alone = jax.jit(grads)(jax.tree.map(lambda x: x[3], stacked), values[3])
    for name in alone:
        np.testing.assert_array_equal(np.asarray(batch[name][3]), np.asarray(alone[name]))


def test_fused_siren_step_is_skipped_where_it_does_not_apply():
    coords, values = jnp.zeros((6, 2), jnp.float32), jnp.zeros((6, 1), jnp.float32)
    layers = [(jnp.zeros((2, 4)), jnp.zeros(4)), (jnp.zeros((4, 1)), jnp.zeros(1))]
    assert _dense.siren_mse(layers, coords, values, kind="xla") is None
    assert _dense.siren_mse(layers, coords, values, sine="xla") is None
    halves = [(w.astype(jnp.float16), b) for w, b in layers]
    assert _dense.siren_mse(halves, coords, values) is None


def test_siren_subclass_with_its_own_apply_gets_its_loss_from_that_apply():
    class Halved(fields.Siren):
        def apply(self, params, coords):
            return 0.5 * super().apply(params, coords)

    field = Halved(hidden=8, layers=3, omega0=30.0)
    params = field.init(jax.random.key(0))
    values = jnp.asarray(_random((4 * 5, 1), 7))
    assert field.fused_mse(params, jnp.zeros((20, 2), jnp.float32), values) is None
    loss, _ = _image_loss(field, params, 4, 5, values)
    from arena import metrics

    pred = field.apply(params, jnp.asarray(metrics.pixel_centres(4, 5)))
    np.testing.assert_allclose(float(loss), float(jnp.mean((pred - values) ** 2)), rtol=1e-6)


def test_kernel_sine_coefficients_are_those_of_the_python_sine():
    """The fused step's sine and cosine repeat arena/fields/_sine.py's polynomials in C++."""
    import re

    from arena.fields import _sine

    source = _dense.SOURCE.read_text()
    sin = re.search(r"kSin\[5\] = \{([^}]*)\}", source).group(1)
    cos = re.search(r"kPiCos\[5\] = \{([^}]*)\}", source).group(1)
    number = r"-?\d+\.\d+"
    assert [float(v) for v in re.findall(number, sin)] == list(_sine._SIN)
    assert [float(v) for v in re.findall(r"kPi \* (" + number + r")", cos)] == list(_sine._COS)
