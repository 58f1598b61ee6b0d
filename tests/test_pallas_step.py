"""The fused SIREN step for GPUs (arena/fields/_pallas.py), run by Pallas's interpreter on this CPU.

Each test checks the kernel against XLA's autodiff of ``Siren.apply``: the same loss, PSNR and
gradients. The kernel's Triton lowering itself needs a GPU (benchmarks/gpu_check.sh runs it).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import fields
from arena.fields import _pallas


def _random(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _image_loss(field, params, height, width, values):
    from arena.fit import ImageTask

    c = values.shape[-1]
    task = ImageTask(height=height, width=width, channels=c, mean=(0.5,) * c, std=(0.5,) * c)
    return task.loss(field, params, {"values": values}, None)


def _perturbed_params(field, seed=0):
    key = jax.random.key(seed + 3)
    params = field.init(jax.random.key(seed))
    return jax.tree.map(lambda x: x + 0.02 * jax.random.normal(key, x.shape), params)


def _scaled_layers(field, params):
    """``params`` as the fused steps take them (as ``Siren.fused_mse`` passes them)."""
    return field._kernel_layers(params)


def _assert_grads_close(grads, ref_grads, rtol=2e-5):
    for name in ref_grads:
        scale = float(jnp.abs(ref_grads[name]).max())
        assert float(jnp.abs(grads[name] - ref_grads[name]).max()) <= rtol * scale, name


# the five shapes of the CPU kernel's tests (tests/test_dense.py): the MNIST SIREN (784 points,
# 12 full 64-point tiles and a part-filled one); a width and 3 channels padded to 32 and 16 with
# one part-filled tile; the smallest SIREN (one point); a width of 40 (padded to 64) and 3
# channels; 128 points, two full tiles
SHAPES = [(32, 3, 1, 28, 28), (17, 4, 3, 5, 7), (1, 2, 1, 1, 1), (40, 3, 3, 9, 11), (32, 3, 1, 8, 16)]


@pytest.mark.parametrize("hidden,layers,out_dim,height,width", SHAPES)
def test_image_loss_through_the_pallas_step_matches_autodiff_of_apply(hidden, layers, out_dim, height, width):
    # dense="pallas" forces the step that dense="auto" picks on a GPU; here it is interpreted
    fused = fields.Siren(hidden=hidden, layers=layers, omega0=30.0, out_dim=out_dim, dense="pallas")
    plain = fields.Siren(hidden=hidden, layers=layers, omega0=30.0, out_dim=out_dim, dense="xla")
    params = _perturbed_params(fused)
    values = jnp.asarray(_random((height * width, out_dim), 5))

    def value_and_grad(field):
        fn = jax.value_and_grad(lambda p: _image_loss(field, p, height, width, values), has_aux=True)
        return jax.jit(fn)(params)

    jaxpr = jax.make_jaxpr(lambda p: _image_loss(fused, p, height, width, values))(params)
    assert "arena_siren_mse_pallas" in str(jaxpr)
    (loss, psnr), grads = value_and_grad(fused)
    (ref_loss, ref_psnr), ref_grads = value_and_grad(plain)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=2e-6)
    np.testing.assert_allclose(float(psnr), float(ref_psnr), rtol=2e-6)
    _assert_grads_close(grads, ref_grads)


@pytest.mark.parametrize("sine", ["poly", "xla"])
@pytest.mark.parametrize("tile,groups", [(16, 1), (16, 3), (32, 2)])
def test_pallas_step_is_the_same_for_any_tiling_and_either_sine(sine, tile, groups):
    """100 points: 16-point tiles leave the last one part-filled, 3 groups of 3 tiles leave the last
    group two empty tiles; the sine is that of ``apply`` with the same ``sine`` setting."""
    field = fields.Siren(hidden=24, layers=3, omega0=30.0, out_dim=2, sine=sine, dense="xla")
    params = _perturbed_params(field, seed=1)
    coords = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (100, 2)).astype(np.float32))
    values = jnp.asarray(_random((100, 2), 3))

    def fused(p):
        out = _pallas.siren_mse(_scaled_layers(field, p), coords, values, sine=sine, interpret=True,
                                tile=tile, groups=groups)
        return out[0], out[1]

    def ref(p):
        mse = ((field.apply(p, coords) - values) ** 2).mean(axis=0)
        return mse.mean(), mse

    (loss, mse), grads = jax.jit(jax.value_and_grad(fused, has_aux=True))(params)
    (ref_loss, ref_mse), ref_grads = jax.jit(jax.value_and_grad(ref, has_aux=True))(params)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=2e-6)
    np.testing.assert_allclose(np.asarray(mse), np.asarray(ref_mse), rtol=2e-6)
    _assert_grads_close(grads, ref_grads)


@pytest.mark.slow
def test_pallas_step_of_one_nef_does_not_depend_on_its_batch_and_grids_over_nefs():
    field = fields.Siren(hidden=16, layers=3, omega0=30.0, dense="pallas")
    stacked = jax.vmap(field.init)(jax.random.split(jax.random.key(1), 4))
    values = jnp.asarray(_random((4, 6 * 7, 1), 6))

    def grads(p, v):
        return jax.grad(lambda q: _image_loss(field, q, 6, 7, v)[0])(p)

    assert "grid=(4, 1)" in str(jax.make_jaxpr(jax.vmap(grads))(stacked, values))  # (NeF, group)
    batch = jax.jit(jax.vmap(grads))(stacked, values)
    alone = jax.jit(grads)(jax.tree.map(lambda x: x[2], stacked), values[2])
    for name in alone:
        np.testing.assert_array_equal(np.asarray(batch[name][2]), np.asarray(alone[name]))


def _dot_precisions(fn, *args) -> set[str]:
    return set(re.findall(r"precision=\(Precision\.(\w+)", str(jax.make_jaxpr(fn)(*args))))


def test_pallas_step_is_exact_float32_unless_tensorfloat32_is_asked_for():
    field = fields.Siren(hidden=8, layers=3, omega0=30.0)
    layers = _scaled_layers(field, field.init(jax.random.key(0)))
    coords, values = jnp.zeros((20, 2), jnp.float32), jnp.zeros((20, 1), jnp.float32)

    def loss(precision=None):
        return lambda ls: _pallas.siren_mse(ls, coords, values, interpret=True, precision=precision)[0]

    assert _dot_precisions(loss(), layers) == {"HIGHEST"}
    with jax.default_matmul_precision("float32"):
        assert _dot_precisions(loss(), layers) == {"HIGHEST"}
    with jax.default_matmul_precision("tensorfloat32"):  # how a fit asks for TF32
        assert _dot_precisions(loss(), layers) == {"DEFAULT"}  # TF32 on Triton
        assert _dot_precisions(loss("float32"), layers) == {"HIGHEST"}
    assert _dot_precisions(loss("tensorfloat32"), layers) == {"DEFAULT"}
    with pytest.raises(ValueError, match="'bfloat16'.*float32, tensorfloat32"):
        loss("bfloat16")(layers)


def test_pallas_step_is_chosen_on_gpu_backends_only_and_dense_xla_opts_out(monkeypatch):
    assert _pallas.selected("auto") is (jax.default_backend() == "gpu")
    assert _pallas.selected("pallas")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _pallas.selected("auto") and _pallas.selected("pallas")
    assert not _pallas.selected("xla") and not _pallas.selected("kernel")
    monkeypatch.setenv("ARENA_GPU_KERNELS", "0")  # how a build on a GPU opts out
    assert not _pallas.selected("auto") and _pallas.selected("pallas")


def test_a_build_records_pallas_as_its_product_path_only_where_the_pallas_step_ran(monkeypatch):
    from arena.fit import tasks
    from builders._build import _dense_kind

    image, shape = tasks.ImageTask(height=4, width=4, channels=1, mean=(0.5,), std=(0.5,)), tasks.ShapeTask()
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _dense_kind(fields.Siren(hidden=8), image) == "pallas"
    assert _dense_kind(fields.Siren(hidden=8, dense="pallas"), image) == "pallas"
    assert _dense_kind(fields.Siren(hidden=8, dense="xla"), image) == "xla"
    assert _dense_kind(fields.Siren(hidden=8, dense="pallas"), shape) == "xla"  # no Pallas occupancy step


def test_dense_pallas_is_an_implementation_choice_with_xla_products():
    field = fields.Siren(hidden=8, layers=3, omega0=30.0, dense="pallas")
    assert field.hparams() == fields.Siren(hidden=8, layers=3, omega0=30.0).hparams()
    params = field.init(jax.random.key(0))
    coords = jnp.asarray(_random((10, 2), 1))
    xla = fields.Siren(hidden=8, layers=3, omega0=30.0, dense="xla")
    np.testing.assert_array_equal(np.asarray(field.apply(params, coords)),
                                  np.asarray(xla.apply(params, coords)))


def test_siren_on_cpu_keeps_its_cpu_step():
    field = fields.Siren(hidden=8, layers=3, omega0=30.0)
    params = field.init(jax.random.key(0))
    values = jnp.asarray(_random((4 * 5, 1), 7))
    jaxpr = str(jax.make_jaxpr(lambda p: _image_loss(field, p, 4, 5, values))(params))
    assert "pallas_call" not in jaxpr


def test_pallas_step_is_skipped_for_other_dtypes_and_rejects_bad_tiles():
    coords, values = jnp.zeros((6, 2), jnp.float32), jnp.zeros((6, 1), jnp.float32)
    layers = [(jnp.zeros((2, 4)), jnp.zeros(4)), (jnp.zeros((4, 1)), jnp.zeros(1))]
    halves = [(w.astype(jnp.float16), b) for w, b in layers]
    assert _pallas.siren_mse(halves, coords, values, interpret=True) is None
    with pytest.raises(ValueError, match="power of two >= 16; got 24"):
        _pallas.siren_mse(layers, coords, values, interpret=True, tile=24)
    with pytest.raises(ValueError, match="groups must be at least 1; got 0"):
        _pallas.siren_mse(layers, coords, values, interpret=True, groups=0)


@pytest.mark.parametrize("hidden,layers,out_dim,points,groups,sine",
                         [(32, 3, 1, 784, 1, "xla"), (17, 4, 3, 35, 2, "poly")])
def test_pallas_step_lowers_through_triton_for_cuda_on_this_cpu(hidden, layers, out_dim, points, groups, sine):
    """JAX's Triton lowering (every primitive, power-of-two loads, dot shapes) runs without a GPU;
    compiling the Triton module to GPU code and running it need one (benchmarks/gpu_check.sh)."""
    field = fields.Siren(hidden=hidden, layers=layers, omega0=30.0, out_dim=out_dim, sine=sine)
    coords, values = jnp.zeros((points, 2), jnp.float32), jnp.zeros((points, out_dim), jnp.float32)

    def grads(p):
        return jax.grad(lambda q: _pallas.siren_mse(_scaled_layers(field, q), coords, values, sine=sine,
                                                    interpret=False, groups=groups)[0])(p)

    stacked = jax.vmap(field.init)(jax.random.split(jax.random.key(0), 3))
    lowered = jax.jit(jax.vmap(grads)).trace(stacked).lower(lowering_platforms=("cuda",))
    assert "__gpu$xla.gpu.triton" in lowered.as_text()


def test_an_unknown_dense_implementation_names_every_choice_pallas_included():
    from arena.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'palas'; use one of auto, kernel, xla, pallas"):
        fields.Siren(hidden=8, dense="palas")
