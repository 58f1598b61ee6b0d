"""Raw-data readers and shape point sampling (arena.sources).

Readers are tested on small files written here in each official format, and on the real data in
``$ARENA_DATA`` (read-only) with small index ranges; tests needing that data are marked
``needs_data`` (tests/_sourcedata.py: skipped without it, failed under CI).
"""

from __future__ import annotations

import doctest
import gzip
import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _sourcedata import DATA, needs_data

from arena.errors import (
    ArenaError,
    ConfigError,
    SourceFormatError,
    SourceNotFoundError,
    UnknownSourceError,
)
from arena.sources import (
    SOURCE_DIR_ENV,
    clean_mesh,
    normalize_vertices,
    occupancy,
    open_source,
    parse_obj,
    parse_off,
    sample_points,
    sample_surface,
    shape_points,
    winding_numbers,
)
from arena.sources.cifar10 import unpickle_batch
from arena.sources.digits import digits_to_uint8
from arena.sources.meshes import SHAPENET_CATEGORIES
from arena.sources.microimagenet import read_superclasses, to_rgb_square
from arena.sources.mnist import parse_idx

try:  # importing scikit-learn takes ~1.5 s: pay it once at collection, not inside a test
    from sklearn.datasets import load_digits
except ImportError:  # pragma: no cover
    load_digits = None



# --- helpers: files in the official formats -------------------------------------------------


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.asarray(array, dtype).tobytes()


def write_mnist(root: Path, n_train: int = 5, n_test: int = 3, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, array) in enumerate(arrays.items()):
        data = idx_bytes(array)
        if gz and k % 2 == 0:  # mixed: some gzipped, some plain
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return arrays


def cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A batch as the official archive pickles it: R plane, G plane, B plane per row."""
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"batch_label": b"test", b"labels": [int(v) for v in labels], b"data": flat,
             b"filenames": [b"x.png"] * len(images)}
    return pickle.dumps(batch, protocol=2)


def write_cifar_tarball(path: Path, images: np.ndarray, labels: np.ndarray, per_batch: int):
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    with tarfile.open(path, "w:gz") as archive:
        for k, name in enumerate(names):
            part = slice(k * per_batch, (k + 1) * per_batch)
            data = cifar_batch(images[part], labels[part])
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def jpeg_bytes(color, size=(64, 64), mode="RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


TETRA_OBJ = b"""# a tetrahedron
v 0 0 0
v 1 0 0
v 0 1 0
v 0 0 1
f 1/1/1 3/3/3 2/2/2
f 1 2 4
f -4//1 -1//1 -2//1
f 2 3 4
"""


def real_modelnet_members(count: int) -> dict[str, bytes]:
    """The first ``count`` OFF files of the real ModelNet10 tarball (read from its start)."""
    found = {}
    with tarfile.open(DATA / "modelnet10" / "modelnet10_test_off.tar.gz", "r|gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".off"):
                found[member.name] = archive.extractfile(member).read()
                if len(found) == count:
                    break
    return found


def manifest_rows() -> dict[str, dict]:
    lines = (DATA / "modelnet10" / "modelnet10_test_manifest.jsonl").read_text().splitlines()
    return {row["path"]: row for row in map(json.loads, lines)}


# --- open_source ------------------------------------------------------------------------------


def test_open_source_suggests_the_closest_name_for_an_unknown_source():
    with pytest.raises(UnknownSourceError, match="Did you mean 'mnist'") as info:
        open_source("mnsit")
    assert isinstance(info.value, LookupError) and "\n" not in str(info.value)


def test_open_source_without_path_or_env_says_what_to_pass_and_where_to_get_it(monkeypatch):
    monkeypatch.delenv(SOURCE_DIR_ENV, raising=False)
    with pytest.raises(SourceNotFoundError, match=SOURCE_DIR_ENV) as info:
        open_source("cifar10")
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and "https://www.cs.toronto.edu" in message
    assert isinstance(info.value, FileNotFoundError) and "\n" not in message


def test_open_source_reads_from_the_source_dir_env(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv(SOURCE_DIR_ENV, str(tmp_path))
    assert len(open_source("mnist")) == 8


def test_open_source_names_the_missing_file_of_a_wrong_path(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(SourceNotFoundError, match="train-labels-idx1-ubyte") as info:
        open_source("mnist", tmp_path)
    assert "yann.lecun.com" in str(info.value)


def test_open_source_rejects_options_a_reader_does_not_take(tmp_path):
    with pytest.raises(ConfigError, match="superclasses"):
        open_source("mnist", tmp_path, superclasses="x.json")


def test_digits_takes_no_path():
    with pytest.raises(ConfigError, match="takes no path"):
        open_source("digits", "/somewhere")


def test_sources_import_neither_jax_nor_torch():
    code = "import sys, arena.sources; print([m for m in ('jax', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the Source contract ----------------------------------------------------------------------


def test_load_returns_items_in_the_requested_order_with_repeats(tmp_path):
    arrays = write_mnist(tmp_path)
    source = open_source("mnist", tmp_path)
    images, labels, index = source.load([6, 1, 6])
    expected = np.concatenate([arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]])
    np.testing.assert_array_equal(images[..., 0], expected[[6, 1, 6]])
    assert index.tolist() == [6, 1, 6] and labels.dtype == index.dtype == np.int64


@pytest.mark.parametrize("bad", [[8], [-1], [[0, 1]], [0.5]])
def test_load_rejects_positions_outside_the_source(tmp_path, bad):
    write_mnist(tmp_path)
    with pytest.raises(ConfigError):
        open_source("mnist", tmp_path).load(bad)


def test_describe_gives_the_manifest_source_block(tmp_path):
    write_mnist(tmp_path)
    block = open_source("mnist", tmp_path).describe()
    assert block["name"] == "mnist" and block["num_classes"] == 10
    assert set(block["sha256"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
                                    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"}
    assert all(len(h) == 64 for h in block["sha256"].values())
    assert block["splits"] == {"train": 5, "test": 3}


# --- MNIST ------------------------------------------------------------------------------------


def test_parse_idx_reads_the_big_endian_header_and_data():
    values = np.arange(-3, 3, dtype=np.int32).reshape(2, 3) * 100_000
    parsed = parse_idx(idx_bytes(values, 0x0C))
    np.testing.assert_array_equal(parsed, values)
    assert parsed.dtype == np.int32 and parsed.dtype.isnative


@pytest.mark.parametrize(
    "data, match",
    [
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x07", "two zero bytes"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x07", "type code 0x07"),
        (b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02", "ends inside"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x07", r"shape \(3,\)"),
    ],
)
def test_parse_idx_rejects_a_bad_magic_type_or_length(data, match):
    with pytest.raises(SourceFormatError, match=match):
        parse_idx(data)


def test_mnist_numbers_test_items_after_the_training_items(tmp_path):
    arrays = write_mnist(tmp_path, n_train=5, n_test=3)
    source = open_source("mnist", tmp_path)
    assert source.splits["train"].tolist() == [0, 1, 2, 3, 4]
    assert source.splits["test"].tolist() == [5, 6, 7]
    images, labels, index = source.load(source.splits["test"])
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, arrays["t10k-labels-idx1-ubyte"])
    assert index.tolist() == [5, 6, 7]


def test_mnist_rejects_images_and_labels_of_different_counts(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(SourceFormatError, match="to match the 4 labels"):
        open_source("mnist", tmp_path).load([0])


@needs_data("mnist")
def test_real_mnist_has_the_official_label_counts():
    source = open_source("mnist", DATA / "mnist")
    train = source.labels[source.splits["train"]]
    assert len(source) == 70_000 and source.splits["test"][0] == 60_000
    assert np.bincount(train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851,
                                           5949]
    assert train[0] == 5 and source.labels[60_000] == 7  # the well-known first digits


# --- CIFAR-10 ---------------------------------------------------------------------------------


@needs_data("cifar10")
def test_cifar_tarball_reader_turns_colour_planes_into_hwc(tmp_path):
    with np.load(DATA / "cifar10" / "cifar10_lossless_subset.npz") as npz:
        images, labels = npz["x_train"][:12], npz["y_train"][:12]
    write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz", images, labels, per_batch=2)
    source = open_source("cifar10", tmp_path)
    assert source.splits["train"].tolist() == list(range(10))
    assert source.splits["test"].tolist() == [10, 11]
    got, got_labels, index = source.load()
    np.testing.assert_array_equal(got, images)  # pixel-exact against the official subset
    np.testing.assert_array_equal(got_labels, labels)
    assert got.dtype == np.uint8 and index.tolist() == list(range(12))
    assert set(source.sha256) == {"cifar-10-python.tar.gz"}


def test_cifar_extracted_folder_reads_like_the_tarball(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(6) % 10
    write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz", images, labels, per_batch=1)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz") as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    from_tar = open_source("cifar10", tmp_path / "cifar-10-python.tar.gz").load()
    from_folder = open_source("cifar10", tmp_path / "extracted").load()
    for a, b in zip(from_tar, from_folder):
        np.testing.assert_array_equal(a, b)


def test_cifar_unpickler_refuses_anything_but_arrays():
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    with pytest.raises(SourceFormatError, match="refusing"):
        unpickle_batch(pickle.dumps({b"data": Payload()}, protocol=2), what="batch")


@needs_data("cifar10")
def test_real_cifar_subset_keeps_official_source_indices():
    source = open_source("cifar10", DATA / "cifar10")
    assert len(source) == 5000 and source.class_names[0] == "airplane"
    _, labels, index = source.load([0, 3999, 4000, 4999])
    assert index.tolist() == [0, 3999, 50_000, 50_999]
    official = np.load(DATA / "cifar10" / "cifar10_train_labels_all50000.npy")
    np.testing.assert_array_equal(source.labels[:4000], official[:4000])
    assert labels[:2].tolist() == official[[0, 3999]].tolist()


# --- MicroImageNet ----------------------------------------------------------------------------


@needs_data("microimagenet")
def test_real_microimagenet_npz_decodes_every_image_to_rgb_64_including_greyscale():
    source = open_source("microimagenet", DATA / "microimagenet")
    images, labels, index = source.load([0, 551, 5499])  # 551 is a greyscale JPEG
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    grey = images[1].astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert labels.tolist() == [0, 1, 9] and index.tolist() == [0, 551, 5499]
    assert {k: len(v) for k, v in source.splits.items()} == {"train": 5000, "val": 500}
    assert source.class_names[:2] == ("amphibian", "electronic_equipment")


def write_imagenet(root: Path) -> dict:
    layout = {
        "n01641577": [("b.JPEG", (80, 60), "red"), ("a.JPEG", (64, 64), "red")],
        "n01644373": [("c.JPEG", (50, 90), "L")],
        "n02099601": [("d.JPEG", (100, 100), "blue")],
    }
    for wnid, files in layout.items():
        (root / wnid).mkdir(parents=True)
        for name, size, color in files:
            mode, color = ("L", 128) if color == "L" else ("RGB", color)
            (root / wnid / name).write_bytes(jpeg_bytes(color, size, mode))
    (root / "n09999999").mkdir()  # a wnid that no super-class lists
    (root / "n09999999" / "x.JPEG").write_bytes(jpeg_bytes("green"))
    return {"amphibian": ["n01644373", "n01641577", "n01650000"], "dogs": ["n02099601"]}


def test_imagenet_folder_orders_by_superclass_then_wnid_then_file(tmp_path):
    mapping = write_imagenet(tmp_path / "train")
    (tmp_path / "classes.json").write_text(json.dumps(mapping))
    classes = tmp_path / "classes.json"
    source = open_source("microimagenet", tmp_path / "train", superclasses=classes)
    assert source.names == ["n01641577/a.JPEG", "n01641577/b.JPEG", "n01644373/c.JPEG",
                            "n02099601/d.JPEG"]
    images, labels, index = source.load()
    assert images.shape == (4, 64, 64, 3) and labels.tolist() == [0, 0, 0, 1]
    assert index.tolist() == [0, 1, 2, 3] and source.splits["train"].tolist() == [0, 1, 2, 3]
    assert images[0, ..., 0].min() > 200 and images[3, ..., 2].min() > 200  # red, then blue
    assert set(source.sha256) == {"classes.json", "images/"}


def test_superclass_text_file_reads_like_json(tmp_path):
    text = "# super-classes\namphibian: n01644373, n01641577\ndogs n02099601\n"
    (tmp_path / "classes.txt").write_text(text)
    assert read_superclasses(tmp_path / "classes.txt") == {
        "amphibian": ["n01644373", "n01641577"], "dogs": ["n02099601"]}


@pytest.mark.parametrize(
    "mapping, match",
    [({"a": ["n01641577"], "b": ["n01641577"]}, "both"), ({"a": ["dog"]}, "WordNet ids")],
)
def test_superclasses_reject_bad_wnids_and_shared_wnids(mapping, match):
    with pytest.raises(SourceFormatError, match=match):
        read_superclasses(mapping)


def test_imagenet_folder_without_images_for_a_superclass_says_which(tmp_path):
    write_imagenet(tmp_path)
    with pytest.raises(SourceNotFoundError, match="'cats'"):
        open_source("microimagenet", tmp_path, superclasses={"dogs": ["n02099601"],
                                                              "cats": ["n02123045"]})


def test_resize_takes_the_central_square_of_the_shorter_side():
    from PIL import Image

    image = Image.new("RGB", (120, 60), "red")
    image.paste(Image.new("RGB", (60, 60), "blue"), (30, 0))  # blue central square
    out = to_rgb_square(image)
    assert out.shape == (64, 64, 3)
    assert out[:, 1:-1, 2].min() == 255 and out[:, 1:-1, 0].max() == 0


# --- digits -----------------------------------------------------------------------------------


@pytest.mark.skipif(load_digits is None, reason="scikit-learn is not installed")
def test_digits_are_sklearn_digits_scaled_by_255_over_16():
    source = open_source("digits")
    images, labels, index = source.load()
    reference = load_digits()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], np.rint(reference.images * 255 / 16))
    np.testing.assert_array_equal(labels, reference.target)
    assert index.tolist() == list(range(1797)) and list(source.splits) == ["all"]
    assert digits_to_uint8(np.array([0, 1, 8, 16])).tolist() == [0, 16, 128, 255]


# --- meshes -----------------------------------------------------------------------------------


def test_parse_off_reads_a_header_glued_to_its_counts_and_splits_polygons():
    text = b"OFF4 2 0\n# comment\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3 255 0 0\n3 0 2 1\n"
    mesh = parse_off(text)
    assert mesh.vertices.shape == (4, 3) and mesh.vertices.dtype == np.float64
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 1]]
    assert parse_off(b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n").faces.tolist() == [[0, 1, 2]]


@pytest.mark.parametrize(
    "text, match",
    [
        (b"PLY\n", "does not start with 'OFF'"),
        (b"OFF\n3 1 0\n0 0 0\n1 0 0\n", "declares 3 vertices"),
        (b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n", "face indices span"),
        (b"OFF\nthree 1 0\n", "counts line"),
    ],
)
def test_parse_off_rejects_malformed_files(text, match):
    with pytest.raises(SourceFormatError, match=match):
        parse_off(text, what="x.off")


def test_parse_obj_reads_slashed_and_negative_indices():
    mesh = parse_obj(TETRA_OBJ)
    assert mesh.vertices.shape == (4, 3)
    assert mesh.faces.tolist() == [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]
    quad = parse_obj(b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    assert quad.faces.tolist() == [[0, 1, 2], [0, 2, 3]]


@needs_data("modelnet10")
def test_real_modelnet_off_files_parse_to_the_manifest_counts():
    rows = manifest_rows()
    for name, data in real_modelnet_members(2).items():
        mesh = parse_off(data, what=name)
        assert mesh.vertices.shape[0] == rows[name]["n_vertices"]
        assert mesh.faces.shape[0] == rows[name]["n_faces"]


def modelnet_tree(members: dict[str, bytes]) -> dict[str, bytes]:
    """Real OFF files renamed into a train/test tree, plus junk an archive may hold."""
    a, b = list(members.values())[:2]
    return {
        "ModelNet10/toilet/test/toilet_0010.off": a,
        "ModelNet10/bathtub/test/bathtub_0107.off": a,
        "ModelNet10/bathtub/train/bathtub_0002.off": b,
        "ModelNet10/bathtub/train/bathtub_0010.off": a,
        "ModelNet10/README.txt": b"not a mesh",
        "__MACOSX/ModelNet10/bathtub/train/._bathtub_0002.off": b"junk",
    }


EXPECTED_ORDER = ["ModelNet10/bathtub/train/bathtub_0002.off",
                  "ModelNet10/bathtub/train/bathtub_0010.off",
                  "ModelNet10/bathtub/test/bathtub_0107.off",
                  "ModelNet10/toilet/test/toilet_0010.off"]  # fmt: skip


@needs_data("modelnet10")
@pytest.mark.parametrize("kind", ["tar", "zip", "folder"])
def test_modelnet_orders_train_before_test_then_class_then_number(tmp_path, kind):
    tree = modelnet_tree(real_modelnet_members(2))
    if kind == "tar":
        path = tmp_path / "ModelNet10.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for name, data in tree.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    elif kind == "zip":
        path = tmp_path / "ModelNet10.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in tree.items():
                archive.writestr(name, data)
    else:
        for name, data in tree.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
        path = tmp_path
    source = open_source("modelnet10", path)
    assert [n.split("ModelNet10/")[-1] for n in source.names] == [
        n.split("ModelNet10/")[-1] for n in EXPECTED_ORDER]
    assert source.splits["train"].tolist() == [0, 1] and source.splits["test"].tolist() == [2, 3]
    meshes, labels, index = source.load([3, 0])
    assert labels.tolist() == [9, 0] and index.tolist() == [3, 0]
    a = parse_off(tree["ModelNet10/toilet/test/toilet_0010.off"])
    np.testing.assert_array_equal(meshes[0].faces, a.faces)
    assert len(source.sha256) == 1


def write_shapenet(root: Path) -> None:
    for synset, _ in SHAPENET_CATEGORIES:
        for model in ("m2", "m1"):
            folder = root / synset / model / "models"
            folder.mkdir(parents=True)
            (folder / "model_normalized.obj").write_bytes(TETRA_OBJ)
    (root / SHAPENET_CATEGORIES[0][0] / "m0").mkdir()  # no model file: skipped


def test_shapenet_lists_the_paper_categories_in_label_order(tmp_path):
    write_shapenet(tmp_path / "ShapeNetCore.v2")
    source = open_source("shapenet", tmp_path)
    assert source.class_names == ("loudspeaker", "bench", "watercraft", "lamp", "rifle", "sofa",
                                  "car", "airplane", "chair", "table")
    assert len(source) == 20 and source.names[:2] == [
        "03691459/m1/models/model_normalized.obj", "03691459/m2/models/model_normalized.obj"]
    meshes, labels, _ = source.load([19])
    assert labels.tolist() == [9] and meshes[0].faces.shape == (4, 3)
    assert list(source.splits) == ["all"]


def test_shapenet_without_a_category_folder_names_it(tmp_path):
    write_shapenet(tmp_path)
    (tmp_path / "04379243" / "m1" / "models" / "model_normalized.obj").unlink()
    for folder in sorted((tmp_path / "04379243").rglob("*"), reverse=True):
        folder.rmdir() if folder.is_dir() else folder.unlink()
    (tmp_path / "04379243").rmdir()
    with pytest.raises(SourceNotFoundError, match="04379243"):
        open_source("shapenet", tmp_path)


# --- winding numbers and shape points ---------------------------------------------------------


def uniform_points(n: int, bound: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-bound, bound, (n, 3))


def assert_inside_test_matches(mesh, inside_fn, band: float, n: int = 3000):
    points = uniform_points(n, 1.2)
    distance, expected = inside_fn(points)
    clear = np.abs(distance) > band
    got = winding_numbers(mesh.vertices, mesh.faces, points) > 0.5
    assert clear.sum() > 0.8 * n
    np.testing.assert_array_equal(got[clear], expected[clear])


def test_winding_numbers_match_the_analytic_sphere():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3)
    sagitta = 1 - np.linalg.norm(sphere.triangles_center, axis=1).min()

    def inside(p):
        r = np.linalg.norm(p, axis=1)
        return r - 1, r < 1

    assert_inside_test_matches(sphere, inside, band=sagitta + 1e-3)


def test_winding_numbers_match_the_analytic_box():
    import trimesh

    box = trimesh.creation.box(extents=(1.6, 1.0, 0.4))
    half = np.array([0.8, 0.5, 0.2])

    def inside(p):
        gap = np.abs(p) - half
        return np.where((gap < 0).all(axis=1), gap.max(axis=1), np.abs(gap).min(axis=1)), (
            gap < 0).all(axis=1)

    assert_inside_test_matches(box, inside, band=1e-3)


def test_winding_numbers_match_the_analytic_torus():
    import trimesh

    torus = trimesh.creation.torus(major_radius=0.6, minor_radius=0.25, major_sections=48,
                                   minor_sections=24)

    def inside(p):
        ring = np.hypot(np.hypot(p[:, 0], p[:, 1]) - 0.6, p[:, 2]) - 0.25
        return ring, ring < 0

    assert_inside_test_matches(torus, inside, band=0.01)


def ray_parity_inside(vertices, faces, points, direction):
    """Odd number of crossings along a ray: the inside test that needs a closed mesh."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    h = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, h)
    s = points[:, None, :] - a[None]
    with np.errstate(divide="ignore", invalid="ignore"):  # faces parallel to the ray never hit
        u = np.einsum("pfk,fk->pf", s, h) / det
        q = np.cross(s, e1[None])
        v = (q @ direction) / det
        t = np.einsum("pfk,fk->pf", q, e2) / det
        hits = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return hits.sum(axis=1) % 2 == 1


def test_winding_numbers_stay_right_on_an_open_sphere_where_ray_parity_fails():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    centres = sphere.triangles_center
    keep = ~((centres[:, 0] > 0.9) | (np.hypot(centres[:, 1], centres[:, 2]) < 0.2) & (
        centres[:, 0] > 0))
    opened = sphere.faces[keep]  # a hole around +x
    assert keep.sum() < len(keep)
    inner = np.array([[0.0, 0.0, 0.0], [0.3, 0.05, -0.02], [-0.4, 0.2, 0.1]])
    outer = np.array([[1.6, 0.0, 0.0], [0.0, -1.5, 0.3]])
    parity = ray_parity_inside(sphere.vertices, opened, inner, np.array([1.0, 0.0, 0.0]))
    assert not parity[:2].any()  # rays through the hole miss the surface: "outside"
    w_in = winding_numbers(sphere.vertices, opened, inner)
    w_out = winding_numbers(sphere.vertices, opened, outer)
    assert (w_in > 0.8).all() and (np.abs(w_out) < 0.2).all()


def test_winding_numbers_are_minus_one_inside_an_inward_facing_mesh():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    w = winding_numbers(sphere.vertices, sphere.faces[:, ::-1], [[0, 0, 0.1], [0, 0, 3]])
    np.testing.assert_allclose(w, [-1, 0], atol=1e-5)


def random_soup(n_faces: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A self-intersecting soup: shared vertices, random faces, duplicated and flat faces."""
    rng = np.random.default_rng(seed)
    vertices = rng.normal(size=(n_faces // 2, 3))
    faces = rng.integers(0, len(vertices), (n_faces, 3))
    faces[0] = [0, 0, 1]  # repeated vertex: no area
    vertices = np.concatenate([vertices, vertices[:5]])  # duplicate positions, merged away
    faces[1] = [len(vertices) - 5, len(vertices) - 4, len(vertices) - 3]
    return vertices, faces


def test_the_tree_gives_the_direct_sum_on_a_self_intersecting_soup():
    vertices, faces = random_soup(600, seed=3)
    points = uniform_points(400, 3.0, seed=4)
    direct = winding_numbers(vertices, faces, points, method="direct", dtype=np.float64)
    tree64 = winding_numbers(vertices, faces, points, dtype=np.float64, leaf_faces=8)
    tree32 = winding_numbers(vertices, faces, points, leaf_faces=8)
    np.testing.assert_allclose(tree64, direct, atol=1e-9)
    np.testing.assert_allclose(tree32, direct, atol=2e-4)
    assert np.abs(direct).max() > 1  # the soup is far from a closed surface


def test_winding_numbers_reject_bad_faces_and_methods():
    with pytest.raises(ConfigError, match="Face indices"):
        winding_numbers(np.zeros((3, 3)), [[0, 1, 3]], np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="method"):
        winding_numbers(np.eye(3), [[0, 1, 2]], np.zeros((1, 3)), method="rays")


def test_clean_mesh_keeps_one_copy_of_faces_that_a_two_sided_export_repeats_reversed():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    vertices = np.concatenate([sphere.vertices, [[9.0, 9.0, 9.0]]])  # plus an unused vertex
    two_sided = np.concatenate([sphere.faces, sphere.faces[:, ::-1], [[0, 0, 1]]])
    centre = [[0.0, 0.0, 0.1]]
    assert abs(winding_numbers(vertices, two_sided, centre)[0]) < 1e-5  # the copies cancel
    cleaned = clean_mesh(vertices, two_sided)
    np.testing.assert_array_equal(cleaned.faces.shape, sphere.faces.shape)
    assert cleaned.vertices.shape == sphere.vertices.shape  # the unused vertex is gone
    assert occupancy(vertices, two_sided, centre).tolist() == [True]
    points, inside = sample_points(vertices, two_sided, n_uniform=300, n_surface=0, seed=0)
    radius = np.linalg.norm(points, axis=1)
    clear = np.abs(radius - 1 / 1.1) > 0.02
    np.testing.assert_array_equal(inside[clear], radius[clear] < 1 / 1.1)


def test_normalize_centres_the_box_and_scales_its_longest_side_to_2_over_1_1():
    vertices = np.array([[1.0, 2.0, 3.0], [5.0, 3.0, 4.0], [3.0, 2.5, 3.5]])
    out = normalize_vertices(vertices)
    np.testing.assert_allclose(out.min(axis=0) + out.max(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.ptp(out, axis=0).max(), 2 / 1.1)
    with pytest.raises(ConfigError):
        normalize_vertices(np.ones((4, 3)))


def test_sample_surface_weights_faces_by_area():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [3, 0, 5], [3, 0, 8], [3, 2, 5]], float)
    points = sample_surface(vertices, [[0, 1, 2], [3, 4, 5]], 4000, np.random.default_rng(0))
    on_small = points[:, 2] == 0
    assert abs(on_small.mean() - 0.5 / 3.5) < 0.02  # areas 0.5 and 3
    assert (points[on_small, :2].sum(axis=1) <= 1 + 1e-12).all()


def test_sample_points_draws_uniform_then_near_surface_points_with_labels():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3)
    points, inside = sample_points(sphere.vertices, sphere.faces, n_uniform=500, n_surface=500,
                                   seed=1)
    assert points.shape == (1000, 3) and points.dtype == np.float32 and inside.dtype == bool
    assert np.abs(points).max() <= 1
    radius = np.linalg.norm(points, axis=1)
    assert np.abs(radius[500:] - 1 / 1.1).mean() < 0.03  # 0.02 noise around the normalised sphere
    clear = np.abs(radius - 1 / 1.1) > 0.02
    np.testing.assert_array_equal(inside[clear], radius[clear] < 1 / 1.1)


def test_shape_points_are_reproducible_and_the_three_sets_are_independent():
    import trimesh

    box = trimesh.creation.box()
    counts = dict(n_uniform=200, n_surface=200, n_eval_uniform=50, n_eval_surface=50,
                  n_offgrid=80)
    first = shape_points(box.vertices, box.faces, seed=7, **counts)
    again = shape_points(box.vertices, box.faces, seed=7, **counts)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    pool, labels = sample_points(box.vertices, box.faces, n_uniform=200, n_surface=200, seed=7)
    np.testing.assert_array_equal(first.points, pool)
    np.testing.assert_array_equal(first.occupancy, labels)
    assert first.eval_points.shape == (100, 3) and first.offgrid_points.shape == (80, 3)
    assert not np.isin(first.eval_points[:, 0], first.points[:, 0]).any()
    other = shape_points(box.vertices, box.faces, seed=8, **counts)
    assert not np.array_equal(other.points, first.points)
    inside = (np.abs(first.offgrid_points) < 1 / 1.1).all(axis=1)
    clear = (np.abs(np.abs(first.offgrid_points) - 1 / 1.1) > 1e-3).all(axis=1)
    np.testing.assert_array_equal(first.offgrid_occupancy[clear], inside[clear])


@pytest.mark.parametrize(
    "module", ["arena.sources", "arena.sources._winding", "arena.sources.shapes"]
)
def test_docstring_examples_run(module):
    __import__(module)
    result = doctest.testmod(sys.modules[module], optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_every_source_error_is_an_arena_error():
    for error in (UnknownSourceError, SourceNotFoundError, SourceFormatError):
        assert issubclass(error, ArenaError)
