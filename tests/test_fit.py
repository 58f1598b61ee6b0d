"""The parallel fitter: quality, initialisation semantics, invariance, metrics, compilation."""

import dataclasses
import inspect
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits

from arena import fields, fit, metrics
from arena.errors import ConfigError
from arena.fit import _engine

SIREN = fields.Siren(hidden=16, layers=3, omega0=9.0)


@pytest.fixture(scope="module")
def digits():
    return (load_digits().images / 16.0).astype(np.float32)


def smooth_image(size=16):
    r, c = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    return (0.5 + 0.4 * np.sin(3 * r) * np.cos(2 * c)).astype(np.float32)


# architecture -> settings under which it must fit a smooth 16x16 image to 30 dB in 300 steps
FITS = {
    "siren": (fields.Siren(hidden=32, omega0=9.0), 1e-3),
    "rffnet": (fields.RFFNet(hidden=32, std=1.0), 1e-3),
    "mfn": (fields.MFN(hidden=32), 5e-3),
}


def test_fit_table_covers_every_architecture():
    assert set(FITS) == set(fields.ARCHITECTURES)


@pytest.mark.parametrize("arch", sorted(FITS))
def test_fit_reaches_psnr_on_a_known_image(arch):
    field, lr = FITS[arch]
    image = smooth_image()
    result = fit.fit_images(field, image[None], steps=300, lr=lr, mean=0.5, std=0.25, progress=False)
    assert result.metrics["psnr"][0] > 30
    assert result.metrics["psnr_offgrid"][0] > 25
    assert result.steps[0] == 300


def test_reported_psnr_matches_the_returned_parameters(digits):
    images = digits[:5]
    result = fit.fit_images(SIREN, images, steps=50, mean=0.3, std=0.4, progress=False)
    params = result.layout.unflatten(result.params)
    coords = metrics.pixel_centres(8, 8)
    pred = np.asarray(jax.vmap(SIREN.apply, in_axes=(0, None))(params, coords))[..., 0]
    pred = pred * 0.4 + 0.3  # back to [0, 1]
    want = metrics.psnr(pred, images.reshape(5, 64), axis=1)
    np.testing.assert_allclose(result.metrics["psnr"], want, atol=1e-3)
    mids = metrics.pixel_midpoints(8, 8)
    off = np.asarray(jax.vmap(SIREN.apply, in_axes=(0, None))(params, mids))[..., 0] * 0.4 + 0.3
    interp = np.stack([
        ndimage.map_coordinates(img, np.mgrid[0:7, 0:7].reshape(2, -1) + 0.5, order=1) for img in images
    ])
    np.testing.assert_allclose(result.metrics["psnr_offgrid"], metrics.psnr(off, interp, axis=1), atol=1e-3)


def test_shared_init_starts_every_nef_from_the_returned_parameters(digits):
    same = np.repeat(digits[:1], 4, axis=0)
    result = fit.fit_images(SIREN, same, steps=20, init="shared", seed=7, progress=False)
    assert np.all(result.params == result.params[0])
    want = SIREN.layout().flatten({k: np.asarray(v) for k, v in SIREN.init(_engine.keys(7)[0]).items()})
    np.testing.assert_array_equal(result.init, want)


def test_random_init_depends_only_on_seed_and_global_index(digits):
    same = np.repeat(digits[:1], 6, axis=0)
    batch = fit.fit_images(SIREN, same, steps=10, init="random", seed=3, mean=0.3, std=0.4,
                           chunk_size=2, progress=False)
    assert batch.init is None
    assert len({row.tobytes() for row in batch.params}) == 6
    alone = fit.fit_images(SIREN, same[:1], steps=10, init="random", seed=3, mean=0.3, std=0.4,
                           indices=[4], chunk_size=2, progress=False)
    np.testing.assert_array_equal(alone.params[0], batch.params[4])
    other_seed = fit.fit_images(SIREN, same[:1], steps=10, init="random", seed=4, mean=0.3, std=0.4,
                                indices=[4], chunk_size=2, progress=False)
    assert not np.array_equal(other_seed.params[0], batch.params[4])


def test_results_are_bit_identical_across_devices_and_chunkings(digits):
    images = digits[:11]
    kw = dict(steps=30, init="random", seed=1, mean=0.3, std=0.4, chunk_size=3, progress=False)
    two = fit.fit_images(SIREN, images, **kw)  # blocks of 3 over 2 devices
    one = fit.fit_images(SIREN, images, devices=jax.devices()[:1], **kw)  # the same blocks on 1
    pieces = [fit.fit_images(SIREN, images[s], indices=np.arange(11)[s], **kw) for s in (slice(0, 4), slice(4, 11))]
    np.testing.assert_array_equal(two.params, one.params)
    np.testing.assert_array_equal(two.params, np.concatenate([p.params for p in pieces]))
    for name in two.metrics:
        np.testing.assert_array_equal(two.metrics[name], one.metrics[name])


def test_chunks_of_the_same_shape_do_not_recompile(digits):
    kw = dict(steps=5, seed=11, mean=0.3, std=0.4, chunk_size=2, progress=False)
    _engine.compiled.cache_clear()
    fit.fit_images(SIREN, digits[:9], **kw)
    fit.fit_images(SIREN, digits[20:23], **kw)
    info = _engine.compiled.cache_info()
    assert (info.misses, info.currsize) == (2, 2)  # once per device, never per chunk or call


def test_target_quality_stops_each_nef_early(digits):
    result = fit.fit_images(SIREN, digits[:8], steps=400, target=28.0, check_every=20, progress=False)
    assert np.all(result.steps < 400)
    assert np.all(result.metrics["psnr"] >= 28.0 - 1e-3)
    full = fit.fit_images(SIREN, digits[:8], steps=400, progress=False)
    assert np.all(full.steps == 400)


def test_a_nef_that_meets_the_target_before_any_step_reports_its_loss_not_zero(digits):
    met = fit.fit_images(SIREN, digits[:4], steps=50, target=-100.0, check_every=10, seed=3, progress=False)
    one = fit.fit_images(SIREN, digits[:4], steps=1, seed=3, progress=False)  # the loss at the init, then a step
    assert np.all(met.steps == 0)
    assert np.all(met.loss > 0)
    np.testing.assert_array_equal(met.loss, one.loss)


def test_shape_task_fits_a_sphere_and_scores_on_held_out_points():
    rng = np.random.default_rng(0)
    radius = np.array([[0.5], [0.7]])

    def labelled(n):  # half uniform in the cube, half near the surface, as the shape sources do
        uniform = rng.uniform(-1, 1, (2, n // 2, 3))
        dirs = rng.normal(size=(2, n // 2, 3))
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        near = dirs * (radius[..., None] + rng.normal(scale=0.03, size=(2, n // 2, 1)))
        pts = np.concatenate([uniform, near], axis=1).astype(np.float32)
        return pts, np.linalg.norm(pts, axis=-1) < radius

    pool, occ = labelled(8000)
    ev, ev_occ = labelled(4000)
    off, off_occ = labelled(4000)
    field = fields.Siren(hidden=32, in_dim=3, omega0=10.0)
    result = fit.fit_shapes(field, pool, occ, ev, ev_occ, off, off_occ, points_per_step=2048,
                            steps=1000, progress=False)
    assert result.metrics["iou"].min() > 0.9
    assert result.metrics["iou_offgrid"].min() > 0.9


def test_shape_results_are_bit_identical_across_devices_and_chunkings():
    rng = np.random.default_rng(3)
    pool = rng.uniform(-1, 1, (5, 600, 3)).astype(np.float32)
    occ = np.linalg.norm(pool, axis=-1) < 0.6
    sets = (pool, occ, pool[:, :100], occ[:, :100], pool[:, 100:200], occ[:, 100:200])
    field = fields.Siren(hidden=8, in_dim=3, omega0=9.0)
    kw = dict(points_per_step=128, steps=15, init="random", seed=2, chunk_size=2, progress=False)
    two = fit.fit_shapes(field, *sets, **kw)
    one = fit.fit_shapes(field, *sets, devices=jax.devices()[:1], **kw)
    pieces = [fit.fit_shapes(field, *(x[s] for x in sets), indices=np.arange(5)[s], **kw)
              for s in (slice(0, 2), slice(2, 5))]
    np.testing.assert_array_equal(two.params, one.params)
    np.testing.assert_array_equal(two.params, np.concatenate([p.params for p in pieces]))
    for name in two.metrics:
        np.testing.assert_array_equal(two.metrics[name], one.metrics[name])


def test_shape_batches_are_balanced_and_drawn_from_the_pool():
    import jax.numpy as jnp

    task = fit.ShapeTask(points_per_step=64)
    pts = np.random.default_rng(1).uniform(-1, 1, (1, 100, 3)).astype(np.float32)
    occ = np.zeros((1, 100), bool)
    occ[0, ::10] = True
    data = task.prepare(pts, occ, pts, occ, pts, occ)
    one = {k: jnp.asarray(v[0]) for k, v in data.items()}

    class Probe:  # a field that returns its coordinates' first component, to see what was drawn
        def apply(self, params, coords):
            return coords[:, :1]

    pool_x = set(pts[0, :, 0].tolist())
    inside_x = set(pts[0, occ[0], 0].tolist())
    loss, _ = task.loss(Probe(), {}, one, jax.random.key(0))
    assert np.isfinite(float(loss))
    idx_draw = jax.random.uniform(jax.random.key(0), (2, 32))
    n_in = 10
    drawn_in = np.asarray(data["points"][0][(np.asarray(idx_draw[0]) * n_in).astype(int), 0])
    assert set(drawn_in.tolist()) <= inside_x and set(drawn_in.tolist()) <= pool_x


@pytest.mark.parametrize("inside", [0, 7, 100])
def test_shape_loss_labels_each_draw_with_its_pool_occupancy(inside):
    import jax.numpy as jnp
    import optax

    task = fit.ShapeTask(points_per_step=64)
    pts = np.random.default_rng(2).uniform(-1, 1, (1, 100, 3)).astype(np.float32)
    occ = np.zeros((1, 100), bool)
    occ[0, np.random.default_rng(4).permutation(100)[:inside]] = True
    data = task.prepare(pts, occ, pts, occ, pts, occ)
    one = {k: jnp.asarray(v[0]) for k, v in data.items()}

    class FirstCoordinate:
        def apply(self, params, coords):
            return coords[:, :1] * 3.0

    key = jax.random.key(5)
    loss, _ = task.loss(FirstCoordinate(), {}, one, key)
    # the draw as documented, labelled by looking the points up in the pool
    u = np.asarray(jax.random.uniform(key, (2, 32)))
    n_in, m = inside, 100
    idx = np.concatenate([np.minimum((u[0] * max(n_in, 1)).astype(np.int32), m - 1),
                          np.minimum(n_in + (u[1] * max(m - n_in, 1)).astype(np.int32), m - 1)])
    logits = 3.0 * data["points"][0][idx, 0]
    labels = data["occupancy"][0][idx].astype(np.float32)
    expected = optax.sigmoid_binary_cross_entropy(jnp.asarray(logits), jnp.asarray(labels)).mean()
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


def test_bad_arguments_are_refused_with_clear_errors(digits):
    with pytest.raises(ConfigError, match="Unknown optimizer 'sgd'"):
        fit.fit_images(SIREN, digits[:2], optimizer="sgd", progress=False)
    with pytest.raises(ConfigError, match="Unknown init 'zeros'"):
        fit.fit_images(SIREN, digits[:2], init="zeros", progress=False)
    with pytest.raises(ConfigError, match=r"in_dim=2, out_dim=3"):
        fit.fit_images(SIREN, np.zeros((2, 8, 8, 3), np.uint8), mean=0.5, std=0.5, progress=False)
    with pytest.raises(ConfigError, match="shape"):
        fit.fit_images(SIREN, np.zeros((8, 8), np.float32), progress=False)
    with pytest.raises(ConfigError, match="adamw"):
        fit.fit_images(SIREN, digits[:2], weight_decay=0.1, progress=False)
    with pytest.raises(ConfigError, match="Unknown matmul precision 'bfloat16'"):
        fit.fit_images(SIREN, digits[:2], precision="bfloat16", progress=False)


def test_fit_images_without_mean_and_std_normalises_with_the_images_own_statistics(digits):
    images = digits[:6]
    result = fit.fit_images(SIREN, images, steps=20, chunk_size=3, progress=False)
    mean, std = float(images.mean()), float(images.std())
    assert result.task.mean == (round(mean, 6),) and result.task.std == (round(std, 6),)  # recorded
    assert result.task.describe()["normalization"]["mean"] == [round(mean, 6)]
    explicit = fit.fit_images(SIREN, images, steps=20, chunk_size=3, mean=result.task.mean, std=result.task.std,
                              progress=False)
    np.testing.assert_array_equal(result.params, explicit.params)
    half = fit.fit_images(SIREN, images, steps=20, chunk_size=3, mean=0.5, std=0.5, progress=False)
    assert not np.array_equal(result.params, half.params)  # not the old fixed 0.5 / 0.5


def test_image_stats_are_per_channel_on_the_unit_scale():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    mean, std = fit.image_stats(rgb)
    unit = rgb.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, unit.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(std, unit.std(axis=0), atol=1e-6)
    assert fit.image_stats(np.full((2, 3, 3), 0.25, np.float32)) == ((0.25,), (1e-06,))  # flat: std floored
    task = fit.ImageTask.for_images(rgb, mean=0.5)  # the one left out is still the images' own
    assert task.mean == (0.5,) * 3 and task.std == std


def test_fit_seconds_include_compilation_and_compile_seconds_report_it(digits):
    task = fit.ImageTask.for_images(digits[:4], mean=0.3, std=0.4)
    data = task.prepare(digits[:4])
    kw = dict(steps=7, seed=5, chunk_size=2, progress=False)
    _engine.compiled.cache_clear()
    started = time.perf_counter()
    cold = fit.fit(SIREN, task, data, **kw)
    wall = time.perf_counter() - started
    assert 0 < cold.compile_seconds < cold.seconds <= wall
    assert cold.seconds >= 0.9 * wall  # the whole call, compilation included
    warm = fit.fit(SIREN, task, data, **kw)  # compiled already: next to nothing
    assert warm.compile_seconds < 0.1 * cold.compile_seconds
    assert warm.nef_steps_per_s == pytest.approx(4 * 7 / (warm.seconds - warm.compile_seconds))


def test_fit_defaults_have_one_source_fitconfig():
    defaults = dataclasses.asdict(fit.FitConfig())
    signature = inspect.signature(fit.fit).parameters
    assert {k: signature[k].default for k in defaults} == defaults
    assert fit.make_config() == fit.FitConfig()
    with pytest.raises(ConfigError, match="Unknown fit setting.*stpes.*the settings are steps"):
        fit.make_config(stpes=3)


def test_importing_arena_fit_loads_no_jax_until_the_fitter_is_used():
    code = ("import sys, arena.fit, arena_builders; print('jax' in sys.modules); "
            "arena.fit.make_config(steps=3); print('jax' in sys.modules); arena.fit.fit; print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "True"]


@pytest.mark.parametrize("cap, devices", [(20000, 1), (12, 2), (37, 3), (1, 2)])
def test_default_blocks_are_even_fit_the_budget_and_take_few_shapes(cap, devices):
    blocks = {}
    for n in range(1, 6 * cap + 2):
        block = fit.even_block(n, cap, devices)
        count = -(-n // block)
        assert 1 <= block <= cap
        assert -(-count // devices) == -(-n // (devices * cap))  # as few rounds over the devices as the cap allows
        assert count * block - n < count * -(-cap // 16)  # the padding is under a grain a block
        blocks[block] = n
    assert len(blocks) <= 17  # multiples of cap // 16, up to cap: few programs to compile


def test_default_block_leaves_little_padding_on_a_large_fit():
    # 70,000 MNIST digits under a GPU's budget of 20,000: four blocks of 17,500, not 80,000 NeFs fit
    assert fit.even_block(70000, 20000, 1) == 17500
    # under a budget of 1,000 on two devices: 70 blocks of 1,000, an even number already
    assert fit.even_block(70000, 1000, 2) == 1000


def test_tensorfloat32_precision_is_recorded_and_changes_nothing_on_cpu(digits):
    kw = dict(steps=10, mean=0.3, std=0.4, chunk_size=2, progress=False)
    exact = fit.fit_images(SIREN, digits[:3], **kw)
    tf32 = fit.fit_images(SIREN, digits[:3], precision="tensorfloat32", **kw)
    assert (exact.config.precision, tf32.config.precision) == ("float32", "tensorfloat32")
    np.testing.assert_array_equal(exact.params, tf32.params)


_WORKER = """
import sys, numpy as np, jax
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
from sklearn.datasets import load_digits
from arena import fields, fit
images = (load_digits().images[:10] / 16.0).astype(np.float32)
r = fit.fit_images(fields.Siren(hidden=16, omega0=9.0), images, steps=20, init="random", mean=0.3,
                   std=0.4, chunk_size=3, progress=False)
np.save(sys.argv[3], np.concatenate([r.indices[:, None].astype(np.float32), r.params], axis=1))
jax.distributed.shutdown()
"""


def test_processes_under_jax_distributed_fit_disjoint_ranges(tmp_path, digits):
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, f"127.0.0.1:{port}", str(i), str(tmp_path / f"{i}.npy")],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for i in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()[-2000:]
    parts = [np.load(tmp_path / f"{i}.npy") for i in range(2)]
    assert parts[0][:, 0].tolist() == [0, 1, 2, 3, 4] and parts[1][:, 0].tolist() == [5, 6, 7, 8, 9]
    alone = fit.fit_images(SIREN, digits[:10], steps=20, init="random", mean=0.3, std=0.4, chunk_size=3,
                           progress=False)
    np.testing.assert_array_equal(np.concatenate([p[:, 1:] for p in parts]), alone.params)
