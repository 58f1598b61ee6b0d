import math

import jax
import jax.numpy as jnp
import numpy as np

from arena.fields import _sine


def test_sinpi_matches_float64_reference_to_float32_accuracy():
    u = np.linspace(-40, 40, 1_000_003, dtype=np.float32)
    got = np.asarray(jax.jit(_sine.sinpi)(u), np.float64)
    ref = np.sin(np.pi * u.astype(np.float64))
    assert np.abs(got - ref).max() < 3e-7


def test_sin_is_within_one_argument_ulp_on_siren_range():
    x = np.linspace(-100, 100, 2_000_001, dtype=np.float32)
    got = np.asarray(jax.jit(_sine.sin)(x), np.float64)
    ref = np.sin(x.astype(np.float64))
    assert np.abs(got - ref).max() < 1e-5
    small = np.linspace(-3, 3, 100_001, dtype=np.float32)
    assert np.abs(np.asarray(_sine.sin(small), np.float64) - np.sin(small.astype(np.float64))).max() < 5e-7


def test_sin_derivative_is_cosine():
    x = np.linspace(-30, 30, 200_001, dtype=np.float32)
    grad = np.asarray(jax.jit(jax.vmap(jax.grad(_sine.sin)))(x), np.float64)
    assert np.abs(grad - np.cos(x.astype(np.float64))).max() < 5e-6


def test_sinpi_derivative_is_pi_cospi_and_cospi_matches():
    u = np.linspace(-5, 5, 10_001, dtype=np.float32)
    grad = np.asarray(jax.vmap(jax.grad(_sine.sinpi))(u), np.float64)
    ref = np.pi * np.cos(np.pi * u.astype(np.float64))
    assert np.abs(grad - ref).max() < 2e-6
    assert np.abs(np.asarray(_sine.cospi(u), np.float64) - ref / np.pi).max() < 3e-7


def test_sine_is_odd_and_exact_at_multiples_of_pi():
    u = np.arange(-50, 51, dtype=np.float32)
    assert np.all(np.asarray(_sine.sinpi(u)) == 0)
    v = np.linspace(0, 7, 1001, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(_sine.sinpi(-v)), -np.asarray(_sine.sinpi(v)))


def test_resolve_picks_polynomial_on_cpu_and_rejects_unknown_kind():
    assert _sine.resolve_pi("auto") is _sine.sinpi
    xla = _sine.resolve_pi("xla")
    np.testing.assert_allclose(np.asarray(xla(jnp.float32(0.5))), 1.0, rtol=1e-6)
    try:
        _sine.resolve_pi("fast")
    except ValueError as exc:
        assert "fast" in str(exc)
    else:
        raise AssertionError("unknown kind accepted")
    assert math.isclose(float(_sine.sin(jnp.float32(math.pi / 2))), 1.0, rel_tol=1e-6)
