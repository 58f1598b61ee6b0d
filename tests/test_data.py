"""arena.load and Split: memory-mapped splits, per-NeF views, batches, torch/JAX views, rendering,
and the `arena show` command."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from _nefdata import jax_apply, make_field, nef_params, write_dataset
from typer.testing import CliRunner

import arena
from arena import format as fmt
from arena import metrics
from arena.cli.main import app
from arena.data import GaussianNoise, PermuteHidden, Split
from arena.errors import ArenaError, ChecksumError, ConfigError

SHARDS = {"train": [7, 6, 5], "val": [4], "test": [3, 3]}


@pytest.fixture(scope="module")
def siren():
    return make_field("siren")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, siren):
    """A SIREN dataset with three splits, train in three shards; rows are distinct."""
    root = tmp_path_factory.mktemp("ds") / "neural_test"
    params, k = {}, 0
    for split, sizes in SHARDS.items():
        params[split] = []
        for n in sizes:
            params[split].append(nef_params(siren, n, seed=k))
            k += 1
    write_dataset(root, params)
    return root, params


def _all(params, split):
    return np.concatenate(params[split])


# Opening


def test_load_memory_maps_and_reads_no_params(dataset, tmp_path):
    root, params = dataset
    copy = Path(shutil.copytree(root, tmp_path / "copy"))
    shard = copy / "data/val-00000-of-00001.safetensors"
    raw = bytearray(shard.read_bytes())
    header = 8 + int.from_bytes(raw[:8], "little")
    raw[header + 5] ^= 0xFF  # inside the params tensor, the first one in the data section
    shard.write_bytes(bytes(raw))

    val = arena.load(copy, split="val")  # opens: the damaged bytes are never read
    assert isinstance(val.params, np.memmap)
    np.testing.assert_array_equal(val.labels, np.arange(18, 22) % 3)
    with pytest.raises(ChecksumError, match="val-00000-of-00001"):
        arena.load(copy, split="val", verify=True)


def test_load_without_split_gives_every_split(dataset):
    root, params = dataset
    splits = arena.load(root)
    assert set(splits) == {"train", "val", "test"}
    for name, split in splits.items():
        assert isinstance(split, Split) and split.name == name and len(split) == sum(SHARDS[name])
        np.testing.assert_array_equal(np.asarray(split.params), _all(params, name))
    train = splits["train"]
    assert isinstance(train.params, fmt.ShardedArray) and train.params.shape == (18, train.num_params)
    assert train.dataset == "neural_test" and train.version == "1.0.0"
    assert train.num_classes == 3 and train.class_names == ("a", "b", "c")
    assert train.labels.dtype == np.int64 and train.index.dtype == np.int64
    np.testing.assert_array_equal(train.index, np.arange(18))
    np.testing.assert_allclose(train.metrics["psnr"], 20.0 + np.arange(18))
    assert train.layout == train.info.layout and train.info.name == "neural_test"
    assert train.manifest_sha256 == fmt.sha256_file(root / "arena.json")


def test_load_resolves_a_name_in_the_local_store(dataset, tmp_path, monkeypatch):
    root, params = dataset
    from arena import hub

    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    target = hub.local_path("neural_test", "1.0.0")
    target.parent.mkdir(parents=True)
    target.symlink_to(root, target_is_directory=True)
    test = arena.load("neural_test", split="test")
    np.testing.assert_array_equal(np.asarray(test.params), _all(params, "test"))


def test_bad_split_and_index_are_user_errors(dataset):
    root, _ = dataset
    with pytest.raises(ConfigError, match="no split 'tran'"):
        arena.load(root, split="tran")
    val = arena.load(root, split="val")
    with pytest.raises(ConfigError, match="out of range"):
        val.field(4)
    with pytest.raises(ConfigError, match="batch_size"):
        val.batches(0)
    with pytest.raises(ConfigError, match="seed"):
        val.batches(2, seed=-1)


# Per-NeF views


def test_layers_are_in_out_kernels_that_compute_the_field(dataset, siren):
    root, params = dataset
    val = arena.load(root, split="val")
    layers = val.layers(2)
    assert [(w.shape, b.shape) for w, b in layers] == [((2, 8), (8,)), ((8, 8), (8,)), ((8, 1), (1,))]
    x = np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32)
    h = x
    for w, b in layers[:-1]:
        h = np.sin(9.0 * (h @ w + b))
    w, b = layers[-1]
    np.testing.assert_allclose(h @ w + b, val.field(2)(x), atol=2e-5)
    tensors = val.tensors(2)
    assert list(tensors) == list(val.layout.names)
    np.testing.assert_array_equal(tensors["layers.1.weight"], params["val"][0][2, 2 * 8 + 8:2 * 8 + 8 + 64].reshape(8, 8))


@pytest.mark.parametrize("arch,in_dim,out_dim", [("siren", 3, 2), ("rffnet", 2, 1), ("mfn", 2, 3)])
def test_numpy_field_matches_the_jax_apply(tmp_path, arch, in_dim, out_dim):
    field = make_field(arch, in_dim=in_dim, out_dim=out_dim)
    params = nef_params(field, 3, seed=7)
    root = write_dataset(tmp_path / "d", {"train": [params]}, arch=arch, in_dim=in_dim, out_dim=out_dim)
    split = arena.load(root, split="train")
    coords = np.random.default_rng(1).uniform(-1, 1, (200, in_dim)).astype(np.float32)
    expected = jax_apply(field, params, coords)
    for i in range(3):
        got = split.field(i)(coords)
        assert got.shape == (200, out_dim) and got.dtype == np.float32
        scale = max(1.0, float(np.abs(expected[i]).max()))
        np.testing.assert_allclose(got, expected[i], atol=1e-5 * scale, rtol=1e-5)
    grid = coords.reshape(10, 20, in_dim)  # leading dimensions are kept
    np.testing.assert_allclose(split.field(0)(grid), split.field(0)(coords).reshape(10, 20, out_dim), atol=1e-6)


def _constant_siren_params(field, value: float) -> np.ndarray:
    flat = nef_params(field, 1)[0].copy()
    layout = field.layout()
    flat[layout.slice("layers.2.weight")] = 0.0
    flat[layout.slice("layers.2.bias")] = value
    return flat[None]


def test_render_image_undoes_the_manifests_normalisation(tmp_path, siren):
    rows = np.concatenate([_constant_siren_params(siren, v) for v in (0.5, -1.0, 3.0)])
    root = write_dataset(tmp_path / "d", {"train": [rows]})  # mean 0.25, std 0.5, 4x5x1
    split = arena.load(root, split="train")
    np.testing.assert_allclose(split.render(0), np.full((4, 5, 1), 0.5 * 0.5 + 0.25), atol=1e-6)
    np.testing.assert_allclose(split.render(1), np.zeros((4, 5, 1)))  # -0.25 clipped to 0
    np.testing.assert_allclose(split.render(2), np.ones((4, 5, 1)))  # 1.75 clipped to 1
    np.testing.assert_allclose(split.render(2, clip=False), np.full((4, 5, 1), 1.75), atol=1e-6)


def test_render_image_evaluates_the_nef_at_the_pixel_centres(dataset):
    root, _ = dataset
    val = arena.load(root, split="val")
    expected = val.field(1)(metrics.pixel_centres(4, 5)).reshape(4, 5, 1) * 0.5 + 0.25
    np.testing.assert_allclose(val.render(1), np.clip(expected, 0, 1), atol=1e-6)


def test_render_shape_gives_occupancy_and_a_mesh_on_the_zero_level(tmp_path):
    field = make_field("siren", in_dim=3, hidden=16)
    params = nef_params(field, 1, seed=3)
    g = np.linspace(-1, 1, 9, dtype=np.float32)
    layout = field.layout()
    probe = write_dataset(tmp_path / "probe", {"train": [params]}, in_dim=3, hparams={"hidden": 16},
                          signal={"kind": "shape"})
    values = arena.load(probe, split="train").field(0)(np.stack(np.meshgrid(g, g, g), -1))
    params[0, layout.slice("layers.2.bias")] -= np.median(values)  # a surface inside the cube
    root = write_dataset(tmp_path / "d", {"train": [params]}, in_dim=3, hparams={"hidden": 16},
                         signal={"kind": "shape"})
    split = arena.load(root, split="train")
    res = 24
    shape = split.render(0, resolution=res)
    c = -1 + (2 * np.arange(res) + 1) / res
    coords = np.stack(np.meshgrid(c, c, c, indexing="ij"), -1)
    logits = split.field(0)(coords)[..., 0]
    np.testing.assert_array_equal(shape.occupancy, logits > 0)
    assert 0 < shape.occupancy.mean() < 1
    assert shape.vertices.shape[1] == 3 and len(shape.faces) > 0
    assert shape.faces.min() >= 0 and shape.faces.max() < len(shape.vertices)
    assert np.abs(shape.vertices).max() <= 1
    from scipy.ndimage import map_coordinates

    # marching cubes puts vertices on grid edges where the linear interpolation of the logits is 0
    grid_position = (shape.vertices + 1) * res / 2 - 0.5
    interpolated = map_coordinates(logits.astype(np.float64), grid_position.T, order=1)
    assert np.abs(interpolated).max() < 1e-5 * np.abs(logits).max()


# Batches


def test_shuffled_batches_cover_every_row_once_with_its_label(dataset):
    root, params = dataset
    train = arena.load(root, split="train")
    expected = _all(params, "train")
    batches = list(train.batches(4, seed=3))
    assert [len(p) for p, _ in batches] == [4, 4, 4, 4, 2]
    seen = []
    for p, labels in batches:
        assert p.dtype == np.float32 and labels.dtype == np.int64
        rows = [int(np.flatnonzero((expected == r).all(axis=1))[0]) for r in p]
        np.testing.assert_array_equal(labels, np.asarray(rows) % 3)
        seen += rows
    assert sorted(seen) == list(range(18)) and seen != list(range(18))
    assert [len(p) for p, _ in train.batches(4, seed=3, drop_last=True)] == [4, 4, 4, 4]
    assert train.num_batches(4) == 5 and train.num_batches(4, drop_last=True) == 4


def test_unshuffled_batches_are_contiguous_blocks_in_order(dataset):
    root, params = dataset
    train = arena.load(root, split="train")
    got = np.concatenate([p for p, _ in train.batches(5, shuffle=False)])
    np.testing.assert_array_equal(got, _all(params, "train"))


def test_batches_depend_on_the_seed_only(dataset):
    root, _ = dataset
    train = arena.load(root, split="train")
    noise = [GaussianNoise(0.1)]

    def run(seed):
        return [(p.copy(), l.copy()) for p, l in train.batches(4, seed=seed, transforms=noise)]

    a, b, c = run(5), run(5), run((5, 1))
    for (pa, la), (pb, lb) in zip(a, b):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(la, lb)
    assert any(not np.array_equal(la, lc) for (_, la), (_, lc) in zip(a, c))


def test_transforms_see_whole_batches_and_do_not_touch_the_files(dataset):
    root, params = dataset
    train = arena.load(root, split="train")
    calls = []

    def record(p, rng):
        calls.append(p.shape)
        return p + 1.0

    out = np.concatenate([p for p, _ in train.batches(8, shuffle=False, transforms=record)])
    assert calls == [(8, train.num_params), (8, train.num_params), (2, train.num_params)]
    np.testing.assert_allclose(out, _all(params, "train") + 1.0)
    np.testing.assert_array_equal(np.asarray(train.params), _all(params, "train"))


# Framework views


def test_torch_loader_yields_the_same_batches_and_reshuffles_each_epoch(dataset):
    torch = pytest.importorskip("torch")
    root, _ = dataset
    train = arena.load(root, split="train")
    t = [PermuteHidden(train.info), GaussianNoise(0.01)]
    loader = train.torch(batch_size=4, seed=2, transforms=t)
    assert isinstance(loader, torch.utils.data.DataLoader) and len(loader) == 5
    first = [(p.clone(), l.clone()) for p, l in loader]
    for (tp, tl), (np_p, np_l) in zip(first, train.batches(4, seed=2, transforms=t)):
        assert tp.dtype == torch.float32 and tl.dtype == torch.int64
        np.testing.assert_array_equal(tp.numpy(), np_p)
        np.testing.assert_array_equal(tl.numpy(), np_l)
    second = [l for _, l in loader]
    assert any(not torch.equal(a, b) for (_, a), b in zip(first, second))


@pytest.mark.slow
def test_torch_loader_workers_reopen_the_shards_and_give_the_same_batches(dataset):
    torch = pytest.importorskip("torch")
    root, _ = dataset
    train = arena.load(root, split="train")
    t = [PermuteHidden(train.info), GaussianNoise(0.01)]
    here = [p for p, _ in train.torch(batch_size=4, seed=2, transforms=t)]
    workers = train.torch(batch_size=4, seed=2, transforms=t, num_workers=1,
                          multiprocessing_context="spawn")  # pickles the dataset, reopens the shards
    again = [p for p, _ in workers]
    assert len(again) == len(here)
    for a, b in zip(here, again):
        assert torch.equal(a, b)


def test_jax_batches_are_device_arrays_of_the_numpy_batches(dataset):
    import jax

    root, _ = dataset
    val = arena.load(root, split="val")
    for (jp, jl), (p, l) in zip(val.jax(3, seed=1), val.batches(3, seed=1)):
        assert isinstance(jp, jax.Array) and jp.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(jp), p)
        np.testing.assert_array_equal(np.asarray(jl), l)


def test_a_split_is_numpy_and_load_has_no_format_option(dataset):
    root, params = dataset
    split = arena.load(root, split="train")
    assert isinstance(split.labels, np.ndarray) and isinstance(split.metrics["psnr"], np.ndarray)
    w, b = split.layers(0)[0]
    assert isinstance(w, np.ndarray) and w.shape == (2, 8)
    p, l = split[[1, 3]]
    np.testing.assert_array_equal(p, _all(params, "train")[[1, 3]])
    with pytest.raises(TypeError, match="format"):
        arena.load(root, split="train", format="torch")


def test_batch_rows_and_read_batch_are_what_batches_reads(dataset):
    root, _ = dataset
    train = arena.load(root, split="train")
    noise = [GaussianNoise(0.1)]
    expected = list(train.batches(4, seed=(2, 5), transforms=noise))
    got = [train.read_batch(rows, transforms=noise, seed=(2, 5), number=number)
           for number, rows in train.batch_rows(4, seed=(2, 5))]
    assert len(got) == len(expected) == 5
    for (p, l), (ep, el) in zip(got, expected):
        np.testing.assert_array_equal(p, ep)
        np.testing.assert_array_equal(l, el)
    later = [rows for _, rows in train.batch_rows(4, seed=(2, 5), epoch=1)]
    assert any(not np.array_equal(a, b) for a, b in zip(later, [r for _, r in train.batch_rows(4, seed=(2, 5))]))
    for bad in ([3, 1], [0, 18], [-1, 2]):
        with pytest.raises(ConfigError, match=r"increasing NeF indices in \[0, 18\)"):
            train.read_batch(np.asarray(bad))


def test_a_split_pickles_as_its_directory_and_reopens(dataset):
    import pickle

    root, params = dataset
    train = arena.load(root, split="train")
    data = pickle.dumps(train)
    assert len(data) < 1000  # a reference to the files, not the parameters
    again = pickle.loads(data)
    assert isinstance(again, Split) and again.name == "train" and again.root == train.root
    np.testing.assert_array_equal(np.asarray(again.params), _all(params, "train"))


# arena show


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    return image.size


def test_show_without_the_source_shows_the_nef_alone_with_a_note(tmp_path, monkeypatch, siren):
    root = write_dataset(tmp_path / "d", {"val": [nef_params(siren, 2)]},
                         source={"name": "mnist", "num_classes": 10})
    monkeypatch.delenv("ARENA_SOURCE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["show", str(root), "0", "--split", "val"])
    assert result.exit_code == 0, result.output
    assert "'mnist' is not available here" in result.output and "--source" in result.output
    assert (tmp_path / "neural_test-val-0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = CliRunner().invoke(app, ["show", str(root), "0", "--split", "val", "--source", str(tmp_path / "none")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_show_bad_index_is_one_red_line(dataset):
    root, _ = dataset
    result = CliRunner().invoke(app, ["show", str(root), "9", "--split", "val"])
    assert result.exit_code == 1
    assert "INDEX 9 is out of range" in result.output and "Traceback" not in result.output


def test_errors_are_arena_errors(dataset):
    root, _ = dataset
    with pytest.raises(ArenaError):
        arena.load(root / "nope", split="val")
