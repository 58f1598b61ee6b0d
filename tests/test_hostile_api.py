"""Hostile input to the library's entry points: arena.fit, arena.fields, arena.nef, arena.graph.

A researcher's wrong kind or value (int images, NaN pixels, a string seed, a field class, a flat
row for ``apply``...) ends in one :class:`ConfigError` (a ``ValueError``) whose one line names the
value and what to do; never a deep JAX or numpy traceback, silently truncated settings, or NaN
parameters. Almost every refusal here comes before anything is compiled.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import fields, fit, graph, nef
from arena.errors import ConfigError

SIREN = fields.Siren(hidden=8, layers=2, omega0=9.0)
SIREN3 = fields.Siren(hidden=8, layers=2, omega0=9.0, in_dim=3)
IMAGES = np.random.default_rng(0).random((2, 4, 4)).astype(np.float32)
QUIET = dict(steps=2, progress=False)


def _refused(call, *fragments):
    """``call()`` raises one ConfigError, on one line, holding every fragment; returns the message."""
    with pytest.raises(ConfigError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _shapes(n=2, m=32, e=8, seed=0):
    rng = np.random.default_rng(seed)
    sets = []
    for count in (m, e, e):
        points = rng.uniform(-1, 1, (n, count, 3)).astype(np.float32)
        sets += [points, np.linalg.norm(points, axis=-1) < 0.6]
    return sets


# ------------------------------------------------------------------------ images


def test_fit_images_refuses_nan_pixels_naming_them():
    images = IMAGES.copy()
    images[1, 2, 3] = np.nan
    images[1, 3, 0] = np.inf
    message = _refused(lambda: fit.fit_images(SIREN, images, **QUIET),
                       "2 NaN or infinite value(s)", "(1, 2, 3, 0)")
    assert "Divide by" not in message  # dividing does not cure a NaN


def test_fit_images_refuses_integer_images_saying_how_to_convert_them():
    for images in ((IMAGES * 255).astype(np.int64), (IMAGES * 1000).astype(np.int64), IMAGES > 0.5):
        _refused(lambda: fit.fit_images(SIREN, images, **QUIET), f"dtype {images.dtype}", "astype(np.uint8)")


@pytest.mark.parametrize("images, fragment", [
    ([[[0.1, 0.2]], [[0.3]]], "unequal sizes"),
    (np.zeros((0, 4, 4), np.float32), "got shape (0, 4, 4, 1)"),
    (np.zeros((2, 0, 4), np.float32), "got shape (2, 0, 4, 1)"),
    (np.zeros((2, 4, 4, 0), np.float32), "got shape (2, 4, 4, 0)"),
    (np.zeros((2, 4, 4, 1, 1), np.float32), "(N, H, W) or (N, H, W, C); got (2, 4, 4, 1, 1)"),
])
def test_fit_images_refuses_ragged_empty_and_five_dimensional_images(images, fragment):
    _refused(lambda: fit.fit_images(SIREN, images, mean=0.5, std=0.25, **QUIET), fragment)


@pytest.mark.parametrize("stats, fragment", [
    (dict(mean=float("nan")), "mean must be 1 finite number(s)"),
    (dict(std=float("nan")), "std must be 1 finite number(s)"),
    (dict(std=float("inf")), "(inf,)"),
    (dict(std=0.0), "std must be positive"),
    (dict(mean=[0.1, 0.2]), "one per channel (1)"),
    (dict(mean="a"), "got 'a'"),
])
def test_fit_images_refuses_non_finite_or_misshaped_mean_and_std(stats, fragment):
    _refused(lambda: fit.fit_images(SIREN, IMAGES, **stats, **QUIET), fragment)


def test_an_image_task_built_directly_refuses_what_would_make_nan_parameters():
    _refused(lambda: fit.ImageTask(4, 4, 1, (0.5,), (float("nan"),)), "std must be 1 finite")
    _refused(lambda: fit.ImageTask(4, 4, 2, (0.5,), (0.5, 0.5)), "mean must be 2 finite")
    _refused(lambda: fit.ImageTask(0, 4, 1, (0.5,), (0.5,)), "got (0, 4, 1)")
    assert fit.ImageTask(1, 1, 1, (0.5,), (0.5,)).points_per_step == 1  # tiny images stay valid


# ------------------------------------------------------------------------ settings


@pytest.mark.parametrize("setting, fragment", [
    (dict(steps=1.5), "steps must be an integer from 1 to 2147483647; got 1.5"),
    (dict(steps=True), "got True"),
    (dict(steps="10"), "got '10'"),
    (dict(steps=None), "got None"),
    (dict(steps=float("nan")), "got nan"),
    (dict(steps=2**31), "got 2147483648"),
    (dict(check_every=1.5, target=20.0), "check_every must be an integer"),
    (dict(lr="1e-3"), "lr must be a number; got '1e-3'"),
    (dict(lr=None), "lr must be a number; got None"),
    (dict(lr=True), "lr must be a number; got True"),
    (dict(lr=0), "lr must be a positive finite number; got 0"),
    (dict(lr=float("nan")), "got nan"),
    (dict(optimizer="adamw", weight_decay=-1.0), "weight_decay must be a finite number >= 0; got -1.0"),
    (dict(optimizer="adamw", weight_decay="0.1"), "weight_decay must be a number"),
    (dict(target=float("nan")), "target must be a finite quality"),
    (dict(target="28"), "target must be a number; got '28'"),
    (dict(seed="0"), "seed must be an integer from 0 to 4294967295; got '0'"),
    (dict(seed=2**32), "got 4294967296"),
    (dict(seed=2**70), "JAX keeps 32 bits"),
    (dict(seed=-1), "got -1"),
    (dict(seed=1.5), "got 1.5"),
    (dict(precision="float-32"), "Unknown matmul precision 'float-32'"),
])
def test_fit_settings_of_the_wrong_kind_are_refused_naming_the_value(setting, fragment):
    _refused(lambda: fit.make_config(**setting), fragment)
    _refused(lambda: fit.fit_images(SIREN, IMAGES, **{**QUIET, **setting}), fragment)


def test_whole_numbers_of_another_type_are_still_taken_as_before():
    config = fit.make_config(steps=2.0, seed=np.int64(3), check_every=np.int32(5), lr=1, target=np.float32(20))
    assert (config.steps, config.seed, config.check_every) == (2, 3, 5)
    assert all(type(v) is int for v in (config.steps, config.seed, config.check_every))
    assert (config.lr, config.target) == (1.0, 20.0) and type(config.lr) is float
    assert fit.make_config(seed=2**32 - 1).seed == 2**32 - 1
    zero_d = fit.make_config(steps=np.array(10), lr=jnp.float32(0.5), seed=jnp.int32(4))  # 0-d arrays, as from a loop
    assert (zero_d.steps, zero_d.lr, zero_d.seed) == (10, 0.5, 4) and type(zero_d.lr) is float


def test_a_whole_float_seed_fits_the_same_nefs_as_the_integer():
    by_float = fit.fit_images(SIREN, IMAGES, seed=2.0, **QUIET)
    np.testing.assert_array_equal(by_float.params, fit.fit_images(SIREN, IMAGES, seed=2, **QUIET).params)


@pytest.mark.parametrize("option, fragment", [
    (dict(chunk_size=0), "chunk_size must be an integer from 1"),
    (dict(chunk_size=-1), "got -1"),
    (dict(chunk_size=1.5), "got 1.5"),
    (dict(memory_budget=0), "memory_budget must be an integer from 1"),
    (dict(indices=[0.5, 1.5]), "indices must be integers from 0 to 2147483647"),
    (dict(indices=[0, 1.5]), "got 1.5 (float64)"),
    (dict(indices=[0, 2**40]), "got 1099511627776"),
    (dict(indices=[-1, 3]), "got -1"),
    (dict(indices=[0]), "indices must have shape (2,); got (1,)"),
    (dict(devices=[]), "devices must be a non-empty list of JAX devices"),
    (dict(devices="cpu"), "got 'cpu'"),
])
def test_fit_refuses_bad_blocks_indices_and_devices(option, fragment):
    _refused(lambda: fit.fit_images(SIREN, IMAGES, **option, **QUIET), fragment)


def test_fit_refuses_a_field_or_task_class_and_data_that_was_not_prepared():
    task = fit.ImageTask.for_images(IMAGES)
    data = task.prepare(IMAGES)
    _refused(lambda: fit.fit_images(fields.Siren, IMAGES, **QUIET), "not its class", "fields.Siren(hidden=32)")
    _refused(lambda: fit.fit_images(None, IMAGES, **QUIET), "got NoneType, which has no in_dim")
    _refused(lambda: fit.fit(SIREN, fit.ImageTask, data, **QUIET), "Pass a task, not its class")
    _refused(lambda: fit.fit(SIREN, None, data, **QUIET), "Expected a task")
    _refused(lambda: fit.fit(SIREN, task, data["values"], **QUIET), "data must be the dict task.prepare")
    _refused(lambda: fit.fit(SIREN, task, {"values": IMAGES}, **QUIET), "{'values': (N, 16, 1)}", "(2, 4, 4)")
    _refused(lambda: fit.fit(SIREN, task, {"vals": data["values"]}, **QUIET), "task.prepare(images)")
    _refused(lambda: fit.fit(SIREN, fit.ShapeTask(points_per_step=8), data, **QUIET), "in_dim=3, out_dim=1")
    wide = fields.Siren(hidden=8, layers=2, out_dim=3)  # the fused kernel would fail deep inside XLA
    _refused(lambda: fit.fit(wide, task, data, **QUIET), "in_dim=2, out_dim=1; got in_dim=2, out_dim=3")


def test_shared_init_and_even_block_refuse_bad_arguments():
    _refused(lambda: fit.shared_init(SIREN, "0"), "seed must be an integer")
    _refused(lambda: fit.shared_init(fields.Siren, 0), "not its class")
    _refused(lambda: fit.even_block(0, 4), "n must be an integer from 1")
    _refused(lambda: fit.even_block(4, 0), "cap must be an integer from 1")


# ------------------------------------------------------------------------ shapes


def test_fit_shapes_refuses_probabilities_as_occupancy_naming_a_value():
    sets = _shapes()
    probabilities = np.where(sets[1], 0.9, 0.2)
    _refused(lambda: fit.fit_shapes(SIREN3, sets[0], probabilities, *sets[2:], points_per_step=8, **QUIET),
             "pool occupancy must be booleans or 0/1", "e.g. 0.2", "occupancy > 0.5")
    _refused(lambda: fit.fit_shapes(SIREN3, *sets[:3], np.where(sets[3], 2, 0), *sets[4:], points_per_step=8,
                                     **QUIET), "eval occupancy", "e.g. 2")


def test_fit_shapes_takes_zero_one_occupancy_as_the_same_booleans():
    sets = _shapes()
    as_ints = [s.astype(np.int64) if s.dtype == bool else s for s in sets]
    task = fit.ShapeTask(points_per_step=8)
    for a, b in zip(task.prepare(*sets).values(), task.prepare(*as_ints).values()):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _with(where, value, labels=None):
    """The point sets of :func:`_shapes` with set ``where`` (0 pool, 2 eval, 4 offgrid) replaced."""
    def change(sets):
        sets[where] = value(sets[where])
        if labels is not None:
            sets[where + 1] = labels(sets[where + 1])
        return sets
    return change


@pytest.mark.parametrize("change, fragment", [
    (_with(0, lambda p: np.where(p > 0.9, np.nan, p)), "pool points hold NaN or infinite"),
    (_with(2, lambda p: np.full_like(p, np.inf)), "eval points hold NaN or infinite coordinates, the first at "
                                                  "(shape, point) (0, 0)"),
    (_with(0, lambda p: p[:, :0], lambda o: o[:, :0]), "(pool) must be points (N, M, 3), M >= 1"),
    (_with(2, lambda p: p[:, :0], lambda o: o[:, :0]), "(eval) must be points (N, M, 3), M >= 1"),
    (_with(4, lambda p: p[..., :2]), "(offgrid) must be points (N, M, 3)"),
    (_with(4, lambda p: p, lambda o: o[:, :3]), "(offgrid) must be points"),
    (_with(2, lambda p: p[0], lambda o: o[0]), "(eval) must be points"),
    (_with(2, lambda p: p[:1], lambda o: o[:1]), "one entry per shape"),
    (_with(0, lambda p: "points"), "numeric array"),
])
def test_fit_shapes_refuses_non_finite_empty_or_misshaped_point_sets(change, fragment):
    sets = change(_shapes())
    _refused(lambda: fit.fit_shapes(SIREN3, *sets, points_per_step=8, **QUIET), fragment)


@pytest.mark.parametrize("points_per_step", [0, 3, 2.5, 4.0, "16", None, True])
def test_points_per_step_must_be_an_even_integer(points_per_step):
    _refused(lambda: fit.ShapeTask(points_per_step=points_per_step), "even number >= 2", repr(points_per_step))


# ------------------------------------------------------------------------ fields


@pytest.mark.parametrize("cls", [fields.Siren, fields.RFFNet, fields.MFN])
@pytest.mark.parametrize("hparams, fragment", [
    (dict(hidden=8.5), "an integer hidden; got 8.5"),
    (dict(hidden="8"), "an integer hidden; got '8'"),
    (dict(hidden=None), "an integer hidden; got None"),
    (dict(hidden=True), "an integer hidden; got True"),
    (dict(in_dim=2.5), "an integer in_dim; got 2.5"),
    (dict(out_dim="1"), "an integer out_dim; got '1'"),
    (dict(sine="fast"), "Unknown sine implementation 'fast'"),
])
def test_fields_refuse_non_integer_sizes_and_unknown_sines_naming_them(cls, hparams, fragment):
    _refused(lambda: cls(**hparams), fragment)


@pytest.mark.parametrize("make, fragment", [
    (lambda: fields.Siren(omega0=float("nan")), "omega0 to be a finite number > 0; got nan"),
    (lambda: fields.Siren(omega0=0), "got 0"),
    (lambda: fields.Siren(omega0=-9.0), "got -9.0"),
    (lambda: fields.Siren(omega0="9"), "got '9'"),
    (lambda: fields.Siren(layers=2.7), "an integer layers; got 2.7"),
    (lambda: fields.RFFNet(std=float("nan")), "std to be a finite number > 0"),
    (lambda: fields.RFFNet(std=0.0), "got 0.0"),
    (lambda: fields.RFFNet(learnable_embedding="no"), "learnable_embedding must be True or False; got 'no'"),
    (lambda: fields.MFN(input_scale=float("nan")), "input_scale to be a finite number > 0"),
    (lambda: fields.MFN(input_scale=-1.0), "got -1.0"),
    (lambda: fields.make("siren", omega0=float("nan")), "omega0"),
])
def test_fields_refuse_frequencies_and_scales_that_make_nan_parameters(make, fragment):
    _refused(make, fragment)


def test_whole_float_sizes_and_numpy_scalars_still_make_fields():
    field = fields.Siren(hidden=8.0, layers=np.int64(3), omega0=jnp.float32(9.0))
    assert field.layout() == fields.Siren(hidden=8, layers=3).layout()
    assert field.hparams() == fields.Siren(hidden=8, layers=3, omega0=9.0).hparams()  # plain ints and floats
    assert all(type(v) in (int, float, str) for v in field.hparams().values())
    params = field.init(jax.random.key(0))  # the sizes are usable, not only accepted
    assert field.apply(params, jnp.zeros((5, 2))).shape == (5, 1)
    assert fields.MFN(filters=4.0).init(jax.random.key(0)).keys() == fields.MFN(filters=4).init(jax.random.key(0)).keys()
    assert fields.RFFNet(learnable_embedding=np.bool_(True)).frozen() == ()


@pytest.mark.parametrize("cls", [fields.Siren, fields.RFFNet, fields.MFN])
def test_init_refuses_an_int_seed_in_place_of_a_key(cls):
    field = cls(hidden=8)
    for key in (0, "0", None, np.int64(0), np.zeros(3, np.uint32)):
        _refused(lambda: field.init(key), f"{cls.__name__}.init takes a JAX PRNG key such as jax.random.key(0)")
    assert field.init(jax.random.PRNGKey(0)).keys() == field.init(jax.random.key(0)).keys()  # raw keys still work


@pytest.mark.parametrize("cls", [fields.Siren, fields.RFFNet, fields.MFN])
def test_apply_refuses_flat_rows_another_fields_params_and_wrong_coordinates(cls):
    field = cls(hidden=8)
    params = field.init(jax.random.key(0))
    coords = jnp.zeros((5, 2))
    row = field.layout().flatten({k: np.asarray(v) for k, v in params.items()})
    _refused(lambda: field.apply(row, coords), f"{cls.__name__}.apply takes params {{name: array}}", "unflatten(row)")
    other = cls(hidden=16).init(jax.random.key(0))
    _refused(lambda: field.apply(other, coords), "are not one NeF of", "has shape (2, ")
    missing = {k: v for k, v in params.items() if k != "layers.1.bias"}
    _refused(lambda: field.apply(missing, coords), "'layers.1.bias' has shape None")
    _refused(lambda: field.apply(params, jnp.zeros((5, 3))), "coordinates as an array (..., 2); got shape (5, 3)")
    _refused(lambda: field.apply(params, [[0.0, 0.0]]), "got list")


@pytest.mark.parametrize("cls", [fields.Siren, fields.RFFNet, fields.MFN])
def test_apply_maps_batched_coordinates_as_the_field_protocol_says(cls):
    field = cls(hidden=8, out_dim=3)
    params = field.init(jax.random.key(1))
    coords = jax.random.uniform(jax.random.key(2), (4, 5, 2), minval=-1, maxval=1)
    out = field.apply(params, coords)
    assert out.shape == (4, 5, 3)
    flat = np.asarray(field.apply(params, coords.reshape(20, 2)))
    np.testing.assert_allclose(np.asarray(out).reshape(20, 3), flat, rtol=1e-6, atol=1e-6)
    assert field.apply(params, coords[0, 0]).shape == (3,)


# ------------------------------------------------------------------------ nef and graph


def test_nef_layouts_refuse_non_integer_hyperparameters_naming_them():
    _refused(lambda: nef.get("siren").layout({"hidden": None, "layers": 3}, 2, 1), "siren needs an integer hidden")
    _refused(lambda: nef.get("mfn").layout({"hidden": 8, "filters": "3"}, 2, 1), "mfn needs an integer filters")
    _refused(lambda: nef.get("rffnet").layout({"hidden": 8, "layers": 2}, "2", 1), "rffnet needs an integer in_dim")
    field = {"arch": "siren", "layout": SIREN.layout().to_json(), "in_dim": "two", "out_dim": 1}
    _refused(lambda: nef.FieldInfo.from_manifest({"field": field}), "field.in_dim must be an integer; got 'two'")


def test_field_info_field_refuses_a_batch_of_rows_naming_the_shape():
    info = nef.FieldInfo("siren", SIREN.layout(), SIREN.hparams(), 2, 1)
    p = info.num_params
    _refused(lambda: info.field(np.zeros((2, p))), f"one parameter row of shape ({p},); got shape (2, {p})")
    _refused(lambda: info.field("abc"), "got shape ()")
    _refused(lambda: info.field(np.zeros(p))("a"), "coordinates of shape (..., 2)")
    row = np.random.default_rng(0).normal(size=p)  # float64, as a user may pass it
    coords = np.random.default_rng(1).uniform(-1, 1, (7, 2))
    np.testing.assert_array_equal(info.field(row)(coords), info.field(row.astype(np.float32))(coords))


def test_graph_to_graph_refuses_ragged_or_non_numeric_parameters():
    spec = graph.graph_spec(SIREN.layout())
    p = spec.num_params
    _refused(lambda: spec.to_graph([[0.0] * p, [0.0]]), f"last dimension {p}")
    _refused(lambda: spec.to_graph(np.array([None] * p)), "numeric flat parameters", "dtype object")
    nodes, edges = spec.to_graph([[0.5] * p])  # a list of numbers is still a batch
    assert np.array_equal(spec.from_graph(nodes, edges), np.full((1, p), 0.5))


@pytest.mark.parametrize("size", [(0, 4), (-1, 4), (2.5, 4), (4, True)])
def test_pixel_grids_refuse_sizes_that_are_not_positive_integers(size):
    from arena import metrics

    _refused(lambda: metrics.pixel_centres(*size), "must be an integer >= 1")
    _refused(lambda: metrics.pixel_midpoints(*size), "must be an integer >= 1")
    assert metrics.pixel_midpoints(2, 2).shape == (1, 2) and metrics.pixel_midpoints(1, 3).shape == (0, 2)


def test_fit_of_no_signals_says_there_is_nothing_to_fit():
    task = fit.ImageTask.for_images(IMAGES)
    empty = {"values": task.prepare(IMAGES)["values"][:0]}
    _refused(lambda: fit.fit(SIREN, task, empty, **QUIET), "Nothing to fit", "no signals")


def test_an_image_task_from_json_lists_is_hashable_and_fits():
    task = fit.ImageTask(4, 4, 1, [0.5], [0.25])  # as read back from a manifest
    assert (task.mean, task.std) == ((0.5,), (0.25,)) and hash(task) == hash(fit.ImageTask(4, 4, 1, (0.5,), (0.25,)))
    result = fit.fit(SIREN, task, task.prepare(IMAGES), **QUIET)
    assert np.isfinite(result.params).all()


def test_to_graph_takes_bfloat16_parameters_but_refuses_strings():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    spec = graph.graph_spec(SIREN.layout())
    p = spec.num_params
    nodes, edges = spec.to_graph(np.full((2, p), 0.5, ml_dtypes.bfloat16))
    assert nodes.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(spec.from_graph(nodes, edges).astype(np.float32), np.full((2, p), 0.5))
    _refused(lambda: spec.to_graph(np.array(["0.5"] * p)), "numeric flat parameters")
