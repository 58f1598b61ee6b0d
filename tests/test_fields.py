"""One table of architectures drives the same contract tests over all of them."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import fields
from arena.errors import ConfigError
from arena.layout import Layout

# architecture -> (a wide instance, so init statistics are measurable; expected init per tensor)
WIDE = 256
TABLE = {
    "siren": (
        fields.Siren(hidden=WIDE, layers=3, omega0=9.0),
        {
            "layers.0.weight": ("uniform", 1 / 2),
            "layers.0.bias": ("zeros",),
            "layers.1.weight": ("uniform", math.sqrt(6 / WIDE) / 9.0),
            "layers.1.bias": ("zeros",),
            "layers.2.weight": ("uniform", math.sqrt(6 / WIDE) / 9.0),
            "layers.2.bias": ("zeros",),
        },
    ),
    "rffnet": (
        fields.RFFNet(hidden=WIDE, layers=2, std=3.0),
        {
            "embedding.weight": ("normal", 3.0),
            "layers.0.weight": ("uniform", math.sqrt(6 / WIDE)),
            "layers.0.bias": ("zeros",),
            "layers.1.weight": ("uniform", math.sqrt(6 / WIDE)),
            "layers.1.bias": ("zeros",),
        },
    ),
    "mfn": (
        fields.MFN(hidden=WIDE, filters=3, input_scale=16.0),
        {
            **{f"filters.{i}.weight": ("uniform", math.sqrt(16.0 / 2)) for i in range(3)},
            **{f"filters.{i}.bias": ("uniform", math.pi) for i in range(3)},
            **{f"layers.{i}.weight": ("uniform", math.sqrt(6 / WIDE)) for i in range(3)},
            **{f"layers.{i}.bias": ("zeros",) for i in range(3)},
        },
    ),
}


def test_table_covers_every_architecture():
    assert set(TABLE) == set(fields.ARCHITECTURES)


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_init_statistics_follow_the_paper(arch):
    field, expected = TABLE[arch]
    params = field.init(jax.random.key(3))
    assert list(params) == list(field.layout().names)
    for name, rule in expected.items():
        x = np.asarray(params[name], np.float64)
        if rule[0] == "zeros":
            assert np.all(x == 0), name
        elif rule[0] == "uniform":
            bound = rule[1]
            assert np.abs(x).max() <= bound * (1 + 1e-6), name
            assert x.size < 100 or abs(x.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3), name
            assert x.size < 100 or abs(x.mean()) < 0.1 * bound, name
        else:
            std = rule[1]
            assert abs(x.std() - std) < 0.15 * std and abs(x.mean()) < 0.2 * std, name


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_layout_round_trip_is_exact(arch):
    field = fields.make(arch, hidden=16)
    layout = field.layout()
    params = jax.vmap(field.init)(jax.random.split(jax.random.key(0), 3))
    params = {k: np.asarray(v) for k, v in params.items()}
    flat = layout.flatten(params)
    assert flat.shape == (3, layout.num_params)
    back = layout.unflatten(flat)
    for name in layout.names:
        np.testing.assert_array_equal(back[name], params[name])
    assert Layout.from_json(layout.to_json()) == layout
    np.testing.assert_array_equal(layout.flatten(back), flat)


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_apply_maps_coordinates_to_channels(arch):
    field = fields.make(arch, hidden=16, in_dim=3, out_dim=4)
    params = field.init(jax.random.key(1))
    assert field.apply(params, jnp.zeros((7, 3), jnp.float32)).shape == (7, 4)
    assert sum(int(np.prod(v.shape)) for v in params.values()) == field.layout().num_params


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_polynomial_and_native_sine_give_the_same_function(arch):
    poly = fields.make(arch, hidden=16, sine="poly")
    native = fields.make(arch, hidden=16, sine="xla")
    params = poly.init(jax.random.key(2))
    coords = jax.random.uniform(jax.random.key(3), (50, 2), minval=-1, maxval=1)
    np.testing.assert_allclose(poly.apply(params, coords), native.apply(params, coords), atol=2e-5)
    assert poly.hparams() == native.hparams()


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_apply_does_not_recompile_for_new_parameters(arch):
    field = fields.make(arch, hidden=16)
    apply = jax.jit(field.apply)
    coords = jnp.zeros((5, 2), jnp.float32)
    for seed in range(3):
        apply(field.init(jax.random.key(seed)), coords)
    assert apply._cache_size() == 1


@pytest.mark.parametrize("arch", sorted(TABLE))
def test_fields_are_hashable_static_configs(arch):
    assert hash(fields.make(arch, hidden=16)) == hash(fields.make(arch, hidden=16))
    assert fields.make(arch, hidden=16) != fields.make(arch, hidden=32)


def test_unknown_architecture_and_bad_hyperparameters_are_refused():
    with pytest.raises(ConfigError, match="Unknown architecture 'sirne'"):
        fields.make("sirne")
    with pytest.raises(ConfigError, match="siren"):
        fields.make("siren", width=3)
    with pytest.raises(ConfigError, match="layers >= 2"):
        fields.Siren(layers=1)
    with pytest.raises(ConfigError, match="even hidden"):
        fields.RFFNet(hidden=15)


def test_layout_depth_counts_consecutive_numbered_tensors():
    from arena.layout import Layout

    layout = Layout([("filters.0.weight", (2, 4)), ("layers.0.weight", (2, 4)), ("layers.0.bias", (4,)),
                     ("layers.1.weight", (4, 1)), ("layers.1.bias", (1,)), ("layers.3.weight", (1, 1))])
    assert (layout.depth("layers"), layout.depth("filters"), layout.depth("embedding")) == (2, 1, 0)


def test_siren_refuses_an_unknown_dense_implementation_naming_every_choice():
    from arena.errors import ConfigError
    from arena.fields import Siren

    with pytest.raises(ConfigError, match="'gpu'; use one of auto, kernel, xla, pallas"):
        Siren(dense="gpu")
