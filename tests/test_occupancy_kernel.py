"""The fused SIREN occupancy step (arena_siren_bce in arena/fields/_kernels/dense_cpu.cc).

One kernel call per NeF and step runs the forward pass at the NeF's own drawn points, the binary
cross-entropy with logits and every parameter gradient; ``ShapeTask.loss`` uses it through
``Siren.fused_bce``. Pinned here: it matches XLA's autodiff of ``apply`` plus optax's BCE, it
does not depend on how NeFs are batched, chunked or placed, and real shapes fit as well with it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _sourcedata import needs_data, require
from test_dense import needs_kernel

from arena import fields, fit
from arena.fields import _dense


def _pool(n, points, inside, seed):
    """ShapeTask data for ``n`` shapes, each a pool of ``points`` with ``inside`` of them occupied."""
    rng = np.random.default_rng(seed)
    pool = rng.uniform(-1, 1, (n, points, 3)).astype(np.float32)
    occ = np.zeros((n, points), bool)
    for i in range(n):
        occ[i, rng.permutation(points)[:inside]] = True
    return pool, occ


def _perturbed(field, seed):
    """Initial parameters plus noise, so every layer (biases too) takes part."""
    params = field.init(jax.random.key(seed))
    return jax.tree.map(lambda x: x + 0.05 * jax.random.normal(jax.random.key(seed + 1), x.shape), params)


def _value_and_grad(field, task, params, data, key):
    fn = jax.value_and_grad(lambda p: task.loss(field, p, data, key), has_aux=True)
    return jax.jit(fn)(params)


@needs_kernel
@pytest.mark.parametrize(
    "hidden,layers,points_per_step,inside",
    # the shape recipe's SIREN and batch; a width with a masked tail and a part-filled point tile
    # (77 = 64 + 13 points, 13 = 8 + 5 in the output groups); the smallest SIREN; a width of
    # 32 + 8 columns and four layers; shapes with no inside and with no outside point
    [(32, 3, 4096, 300), (17, 4, 78, 40), (1, 2, 2, 1), (40, 4, 200, 90), (32, 3, 128, 0), (8, 3, 64, 500)],
)
def test_fused_occupancy_step_matches_autodiff_of_the_unfused_siren(hidden, layers, points_per_step, inside):
    fused = fields.Siren(hidden=hidden, layers=layers, omega0=9.0, in_dim=3)
    plain = fields.Siren(hidden=hidden, layers=layers, omega0=9.0, in_dim=3, dense="xla")
    task = fit.ShapeTask(points_per_step=points_per_step)
    pool, occ = _pool(1, 500, inside, seed=hidden)
    data = {k: jnp.asarray(v[0]) for k, v in task.prepare(pool, occ, pool, occ, pool, occ).items()}
    params, key = _perturbed(fused, 0), jax.random.key(7)

    lowered = jax.jit(lambda p: task.loss(fused, p, data, key)).lower(params).as_text()
    assert "arena_siren_bce" in lowered
    (loss, iou), grads = _value_and_grad(fused, task, params, data, key)
    (ref_loss, ref_iou), ref_grads = _value_and_grad(plain, task, params, data, key)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=2e-6)
    np.testing.assert_allclose(float(iou), float(ref_iou), atol=1e-3)  # one sign flip at most
    # each gradient is a mean over the points of terms up to O(1) (sigmoid(z) - y times an
    # activation); a float32 sum of P of them is exact to about sqrt(P) x 6e-8 of a term, which
    # matters where they cancel (the output bias's mean(sigmoid(z) - y) above all)
    for name in ref_grads:
        scale = float(jnp.abs(ref_grads[name]).max())
        tol = 3e-5 * scale + 1e-7 * np.sqrt(points_per_step)
        assert float(jnp.abs(grads[name] - ref_grads[name]).max()) <= tol, name


@needs_kernel
@pytest.mark.parametrize("logit_scale", [1e-6, 1.0, 40.0, 1e4])
def test_fused_bce_is_optax_bce_from_tiny_to_saturated_logits(logit_scale):
    field = fields.Siren(hidden=16, layers=3, omega0=9.0, in_dim=3)
    params = _perturbed(field, 3)
    params["layers.2.weight"] = params["layers.2.weight"] * logit_scale
    rng = np.random.default_rng(2)
    coords = jnp.asarray(rng.uniform(-1, 1, (203, 3)).astype(np.float32))
    labels = jnp.asarray((rng.uniform(size=203) < 0.5).astype(np.float32))

    (loss, logits), grads = jax.jit(jax.value_and_grad(lambda p: field.fused_bce(p, coords, labels), has_aux=True))(
        params)
    ref_logits = fields.Siren(hidden=16, layers=3, omega0=9.0, in_dim=3, dense="xla").apply(params, coords)[:, 0]
    ref = lambda p: optax.sigmoid_binary_cross_entropy(  # noqa: E731
        fields.Siren(hidden=16, layers=3, omega0=9.0, in_dim=3, dense="xla").apply(p, coords)[:, 0], labels).mean()
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(ref))(params)
    assert np.isfinite(float(loss)) and all(bool(jnp.isfinite(g).all()) for g in grads.values())
    np.testing.assert_allclose(np.asarray(logits), np.asarray(ref_logits), rtol=1e-5,
                               atol=2e-5 * float(jnp.abs(ref_logits).max()))
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=2e-6, atol=1e-7)
    for name in ref_grads:
        scale = float(jnp.abs(ref_grads[name]).max())
        assert float(jnp.abs(grads[name] - ref_grads[name]).max()) <= 3e-5 * scale + 1e-12, name


@needs_kernel
def test_fused_occupancy_step_of_one_nef_does_not_depend_on_its_batch():
    field = fields.Siren(hidden=32, layers=3, omega0=9.0, in_dim=3)
    task = fit.ShapeTask(points_per_step=256)
    pool, occ = _pool(5, 700, 200, seed=4)
    data = {k: jnp.asarray(v) for k, v in task.prepare(pool, occ, pool, occ, pool, occ).items()}
    stacked = jax.vmap(field.init)(jax.random.split(jax.random.key(1), 5))
    keys = jax.random.split(jax.random.key(2), 5)

    def step(p, d, k):
        return jax.grad(lambda q: task.loss(field, q, d, k), has_aux=True)(p)

    batch = jax.jit(jax.vmap(step))(stacked, data, keys)
    alone = jax.jit(step)(*jax.tree.map(lambda x: x[3], (stacked, data, keys)))
    for name in alone[0]:
        np.testing.assert_array_equal(np.asarray(batch[0][name][3]), np.asarray(alone[0][name]))
    np.testing.assert_array_equal(np.asarray(batch[1][3]), np.asarray(alone[1]))


@needs_kernel
def test_points_read_from_the_pool_give_what_a_gathered_copy_gives():
    field = fields.Siren(hidden=24, layers=3, omega0=9.0, in_dim=3)
    params = _perturbed(field, 5)
    rng = np.random.default_rng(6)
    pool = jnp.asarray(rng.uniform(-1, 1, (1000, 3)).astype(np.float32))
    index = jnp.asarray(rng.integers(0, 1000, 150).astype(np.int32))
    labels = jnp.asarray((rng.uniform(size=150) < 0.3).astype(np.float32))

    def run(*args):
        return jax.jit(jax.value_and_grad(lambda p: field.fused_bce(p, *args), has_aux=True))(params)

    (loss, logits), grads = run(pool, labels, index)
    (copy_loss, copy_logits), copy_grads = run(pool[index], labels)
    assert float(loss) == float(copy_loss)
    np.testing.assert_array_equal(np.asarray(logits), np.asarray(copy_logits))
    for name in grads:
        np.testing.assert_array_equal(np.asarray(grads[name]), np.asarray(copy_grads[name]))


def test_fused_occupancy_step_is_skipped_where_it_does_not_apply():
    coords, labels = jnp.zeros((6, 3), jnp.float32), jnp.zeros((6, 1), jnp.float32)
    layers = [(jnp.zeros((3, 4)), jnp.zeros(4)), (jnp.zeros((4, 1)), jnp.zeros(1))]
    assert _dense.siren_bce(layers, coords, labels, kind="xla") is None
    assert _dense.siren_bce(layers, coords, labels, sine="xla") is None
    assert _dense.siren_bce(layers, coords, labels.astype(jnp.float16)) is None
    two = fields.Siren(hidden=8, layers=3, omega0=9.0, in_dim=3, out_dim=2)
    assert two.fused_bce(two.init(jax.random.key(0)), coords, labels[:, 0]) is None
    for dense in ("xla", "pallas"):  # no fused occupancy step: XLA differentiates apply
        field = fields.Siren(hidden=8, layers=3, omega0=9.0, in_dim=3, dense=dense)
        assert field.fused_bce(field.init(jax.random.key(0)), coords, labels[:, 0]) is None, dense


@needs_kernel
def test_fused_bce_refuses_labels_that_do_not_match_the_points():
    layers = [(jnp.zeros((3, 4)), jnp.zeros(4)), (jnp.zeros((4, 1)), jnp.zeros(1))]
    with pytest.raises(ValueError, match=r"labels \(P, C\) for P = 5 points; got labels \(6, 1\)"):
        _dense.siren_bce(layers, jnp.zeros((9, 3)), jnp.zeros((6, 1)), index=jnp.arange(5))


def test_siren_subclass_with_its_own_apply_gets_its_occupancy_loss_from_that_apply():
    class Doubled(fields.Siren):
        def apply(self, params, coords):
            return 2.0 * super().apply(params, coords)

    field = Doubled(hidden=8, layers=3, omega0=9.0, in_dim=3)
    params = field.init(jax.random.key(0))
    assert field.fused_bce(params, jnp.zeros((4, 3)), jnp.zeros(4)) is None
    task = fit.ShapeTask(points_per_step=32)
    pool, occ = _pool(1, 100, 30, seed=8)
    data = {k: jnp.asarray(v[0]) for k, v in task.prepare(pool, occ, pool, occ, pool, occ).items()}
    key = jax.random.key(3)
    loss, _ = task.loss(field, params, data, key)
    idx = task.draw(data, key)
    labels = jnp.concatenate([jnp.ones(16), jnp.zeros(16)])
    expected = optax.sigmoid_binary_cross_entropy(field.apply(params, data["points"][idx])[:, 0], labels).mean()
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


@needs_kernel
def test_fused_shape_fits_are_bit_identical_across_devices_and_chunkings():
    assert len(jax.devices()) == 2  # conftest: two forced host devices
    pool, occ = _pool(5, 600, 250, seed=9)
    sets = (pool, occ, pool[:, :100], occ[:, :100], pool[:, 100:200], occ[:, 100:200])
    field = fields.Siren(hidden=32, in_dim=3, omega0=9.0)
    task = fit.ShapeTask(points_per_step=200)
    one = {k: jnp.asarray(v[0]) for k, v in task.prepare(*sets).items()}
    assert "arena_siren_bce" in jax.jit(lambda p: task.loss(field, p, one, jax.random.key(0))).lower(
        field.init(jax.random.key(0))).as_text()
    kw = dict(points_per_step=200, steps=12, init="random", seed=4, progress=False)
    two_devices = fit.fit_shapes(field, *sets, chunk_size=2, **kw)
    one_device = fit.fit_shapes(field, *sets, chunk_size=2, devices=jax.devices()[:1], **kw)
    other_chunks = fit.fit_shapes(field, *sets, chunk_size=3, **kw)
    pieces = [fit.fit_shapes(field, *(x[s] for x in sets), indices=np.arange(5)[s], chunk_size=2, **kw)
              for s in (slice(0, 1), slice(1, 5))]
    for other in (one_device, other_chunks):
        np.testing.assert_array_equal(two_devices.params, other.params)
        np.testing.assert_array_equal(two_devices.loss, other.loss)
        for name in two_devices.metrics:
            np.testing.assert_array_equal(two_devices.metrics[name], other.metrics[name])
    np.testing.assert_array_equal(two_devices.params, np.concatenate([p.params for p in pieces]))


@needs_kernel
@needs_data("modelnet10/modelnet10_test_off.tar.gz")
def test_real_shapes_fit_to_the_same_iou_with_the_fused_step():
    from arena.sources import open_source, shape_points

    source = open_source("modelnet10", require("modelnet10/modelnet10_test_off.tar.gz"))
    meshes, _, index = source.load(np.arange(4))
    sets = [shape_points(m.vertices, m.faces, seed=int(i), n_uniform=20_000, n_surface=20_000,
                         n_eval_uniform=5_000, n_eval_surface=5_000, n_offgrid=10_000)
            for m, i in zip(meshes, index)]
    arrays = [np.stack([getattr(s, name) for s in sets]) for name in sets[0]._fields]
    kw = dict(points_per_step=4096, steps=300, progress=False)
    fused = fit.fit_shapes(fields.Siren(hidden=32, in_dim=3, omega0=9.0), *arrays, **kw)
    plain = fit.fit_shapes(fields.Siren(hidden=32, in_dim=3, omega0=9.0, dense="xla"), *arrays, **kw)
    for name in ("iou", "iou_offgrid"):
        assert fused.metrics[name].min() > 0.4, name  # these short fits reach about 0.5
        assert abs(fused.metrics[name].mean() - plain.metrics[name].mean()) < 0.01, name
        np.testing.assert_allclose(fused.metrics[name], plain.metrics[name], atol=0.03, err_msg=name)
