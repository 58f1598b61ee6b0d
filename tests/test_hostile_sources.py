"""A hostile user's inputs to the builders and loaders: an --out full of someone else's files,
damaged or lying source files, settings no build can run, and loader arguments of the wrong kind.
Each is refused in one line naming the file or value, before a shard (or anything) is written.

Source files are tiny copies of the real ones under $ARENA_DATA, corrupted; nothing reads past a
few kilobytes of them.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _nefdata import make_field, nef_params, write_dataset
from _sourcedata import DATA, needs_data
from typer.testing import CliRunner

import arena
import arena_builders
from arena.data import Dropout, GaussianNoise, Normalize, PermuteHidden, SignFlip
from arena.errors import ConfigError, SourceFormatError
from arena.sources import open_source

MNIST_LABELS = "t10k-labels-idx1-ubyte"


def _build(*args: str):
    from arena.cli.build import app

    return CliRunner().invoke(app, ["digits", "--limit", "2", "--set", "steps=2", "--quiet", *args])


def _one_error_line(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- --out: never someone else's files


@pytest.mark.parametrize("via_link", [False, True])
def test_a_build_refuses_an_out_holding_files_it_did_not_write_and_leaves_them_as_they_were(tmp_path, via_link):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("my notes")
    out = folder
    if via_link:
        out = tmp_path / "link"
        out.symlink_to(folder)
    _one_error_line(_build("--out", str(out)), "README.md", "a build does not write")
    with pytest.raises(ConfigError, match="a build does not write"):  # the library refuses it too
        arena_builders.build("digits", out=out, limit=2, overrides={"steps": "2"}, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md"]
    assert (folder / "README.md").read_text() == "my notes"


def test_a_build_refuses_the_store_a_folder_holding_it_and_a_folder_inside_a_dataset(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ARENA_HOME", str(home))
    _one_error_line(_build("--out", str(home)), "is the local store")
    _one_error_line(_build("--out", str(tmp_path)), "holds the local store")
    dataset = tmp_path / "elsewhere" / "dataset"
    (dataset / "data").mkdir(parents=True)
    (dataset / "arena.json").write_text("{}")
    _one_error_line(_build("--out", str(dataset / "data" / "mine")), "lies inside the dataset", str(dataset))
    assert sorted(p.name for p in home.iterdir()) == [] and not (dataset / "data" / "mine").exists()


def test_a_build_refuses_an_out_that_is_a_file(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    _one_error_line(_build("--out", str(target)), "not a directory")
    assert target.read_text() == "a,b\n"


# ---------------------------------------------------------------- --set: refused before any fit


@pytest.mark.parametrize("setting, fragment", [
    ("steps=2147483648", "steps must be 1 to 2147483647"),
    ("seed=4294967296", "a seed is 0 to 4294967295"),
    ("seed=-1", "a seed is 0 to 4294967295"),
    ("omega0=0", "omega0 must be > 0"),
    ("hidden=100000", "10000700003 parameters"),
    ("layers=100000000", "layers=100000000: at most 1024"),
])
def test_a_setting_no_build_can_run_is_refused_in_one_line_before_anything_is_written(tmp_path, setting, fragment):
    out = tmp_path / "out"
    _one_error_line(_build("--set", setting, "--out", str(out)), fragment)
    key, value = setting.split("=")
    with pytest.raises(ConfigError, match=re.escape(fragment)):  # the library refuses it too
        arena_builders.build("digits", out=out, limit=2, overrides={key: value}, progress=False)
    assert not out.exists()


def test_a_build_resumes_over_the_unfinished_files_a_killed_build_leaves(tmp_path):
    """Names a killed build leaves (``fmt.incomplete_path``, with and without a random tag) are its own."""
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "init.safetensors.0123456789ab.incomplete").write_bytes(b"half")
    (out / "data" / "train-00000-of-00001.safetensors.incomplete").write_bytes(b"half")
    arena_builders.build("digits", out=out, limit=2, overrides={"steps": "2"}, progress=False)
    assert arena.load(out, split="train").params.shape[0] == 2


# ---------------------------------------------------------------- MNIST: damaged IDX files


def _mnist_copy(tmp_path: Path) -> Path:
    """The four real MNIST files, linked (read only) into a folder whose test labels we replace."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in (DATA / "mnist").iterdir():
        (folder / f.name).symlink_to(f)
    (folder / f"{MNIST_LABELS}.gz").unlink()
    return folder


def _real_labels() -> bytes:
    return gzip.decompress((DATA / "mnist" / f"{MNIST_LABELS}.gz").read_bytes())


@needs_data("mnist")
def test_a_truncated_gzip_idx_file_is_named_in_one_error_not_a_traceback(tmp_path):
    folder = _mnist_copy(tmp_path)
    whole = (DATA / "mnist" / f"{MNIST_LABELS}.gz").read_bytes()
    (folder / f"{MNIST_LABELS}.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceFormatError, match=f"{MNIST_LABELS}.gz' is a damaged gzip file"):
        open_source("mnist", folder).labels


@needs_data("mnist")
def test_a_gzip_idx_file_longer_than_its_header_is_refused_without_decompressing_it_all(tmp_path):
    folder = _mnist_copy(tmp_path)
    (folder / f"{MNIST_LABELS}.gz").write_bytes(gzip.compress(_real_labels() + bytes(64 << 20)))
    tracemalloc.start()
    try:
        with pytest.raises(SourceFormatError, match=r"shape \(10000,\) \(10000 data bytes\) but holds 10001"):
            open_source("mnist", folder).labels
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak  # the 64 MiB of padding are never held


@pytest.mark.parametrize("dims", [(2**31, 2**31, 4), (2**20, 2**20)], ids=["past-64-bits", "a-terabyte"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzipped"])
def test_an_idx_header_claiming_more_than_its_file_holds_is_refused_by_its_claim(tmp_path, dims, gzipped):
    """2^31 * 2^31 * 4 = 2^64 wraps to 0 in int64; a gzipped stream is never read in one claimed-size read."""
    from arena.sources.mnist import read_idx

    header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    path = tmp_path / ("labels.gz" if gzipped else "labels")
    path.write_bytes(gzip.compress(header + bytes(100)) if gzipped else header + bytes(100))
    refusal = "more than the 2147483648 an IDX file" if gzipped else r"data bytes\) but holds 100 data bytes"
    with pytest.raises(SourceFormatError, match=refusal):  # gzipped: refused by its claim, nothing inflated
        read_idx(path)


@needs_data("mnist")
def test_a_label_outside_the_classes_is_named_with_its_value_and_file(tmp_path):
    folder = _mnist_copy(tmp_path)
    data = bytearray(_real_labels())
    data[8 + 7] = 11  # the 8th label
    (folder / MNIST_LABELS).write_bytes(bytes(data))
    with pytest.raises(SourceFormatError, match=rf"{MNIST_LABELS}'.*e\.g\. 11 at row 7"):
        open_source("mnist", folder).labels


@needs_data("mnist")
def test_an_mnist_file_without_examples_is_refused_before_the_build_divides_by_it(tmp_path):
    folder = _mnist_copy(tmp_path)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / f"{name}.gz").unlink()
    (folder / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28]))
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 0]))
    (folder / MNIST_LABELS).write_bytes(_real_labels())
    from arena.cli.build import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["mnist", "--source", str(folder), "--limit", "2", "--set", "steps=2",
                                      "--quiet", "--out", str(out)])
    _one_error_line(result, "train-labels-idx1-ubyte' holds no labels")
    assert not out.exists()


# ---------------------------------------------------------------- CIFAR-10 subset npz


def _cifar_arrays() -> dict[str, np.ndarray]:
    """The first 6 train and 3 test images of the real lossless subset, with their metadata."""
    with np.load(DATA / "cifar10" / "cifar10_lossless_subset.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    for split, n in (("train", 6), ("test", 3)):
        for key in (f"x_{split}", f"y_{split}", f"{split}_index"):
            arrays[key] = arrays[key][:n]
    return arrays


def _save(path: Path, arrays: dict) -> Path:
    np.savez(path, **arrays)
    return path


@needs_data("cifar10")
@pytest.mark.parametrize("change, match", [
    ({"y_train": np.array([0, 1, 2, 3, 4, 10])}, r"'y_train' has 1 label\(s\) outside .* e\.g\. 10 at row 5"),
    ({"y_test": np.array([3, -1, 8])}, r"'y_test' has 1 label\(s\) outside .* e\.g\. -1 at row 1"),
    ({"y_train": np.array([0, 1.5, 2, 3, 4, 5])}, r"'y_train' must be a 1-D integer array \(6,\); got float64"),
    ({"y_train": np.arange(5)}, r"'y_train' must be a 1-D integer array \(6,\); got int64 \(5,\)"),
    ({"train_index": np.arange(4)}, r"'train_index' must be a 1-D integer array \(6,\)"),
    ({"train_index": np.array([0, 1, 2, 3, 4, 60000])}, "index 60000 outside the official 0..49999"),
    ({"test_index": np.array([0, 0, 1])}, "'test_index' holds a repeated index"),
    ({"classes": np.array(list("abcde"))}, "'classes' must be CIFAR-10's 10 class names"),
    ({"x_test": np.zeros((3, 3, 32, 32), np.uint8)}, r"'x_test' must be uint8 \(n, 32, 32, 3\)"),
    ({"classes": np.array([None], dtype=object)}, "its array 'classes' is unreadable"),
])
def test_a_cifar_subset_with_bad_metadata_is_refused_when_opened_naming_the_array(tmp_path, change, match):
    path = _save(tmp_path / "subset.npz", {**_cifar_arrays(), **change})
    with pytest.raises(SourceFormatError, match=match):
        open_source("cifar10", path)


@needs_data("cifar10")
@pytest.mark.parametrize("cut", ["truncated", "not a zip"])
def test_a_cifar_npz_that_is_not_a_readable_archive_says_so_in_one_error(tmp_path, cut):
    whole = _save(tmp_path / "whole.npz", _cifar_arrays()).read_bytes()
    path = tmp_path / "subset.npz"
    path.write_bytes(whole[: len(whole) // 2] if cut == "truncated" else b"hello, not an archive")
    with pytest.raises(SourceFormatError, match="is not a readable npz"):
        open_source("cifar10", path)


@needs_data("cifar10")
def test_a_cifar_build_with_a_label_outside_the_classes_stops_before_writing_anything(tmp_path):
    from arena.cli.build import app

    path = _save(tmp_path / "subset.npz", {**_cifar_arrays(), "y_test": np.array([3, 8, 12])})
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["cifar10", "--source", str(path), "--limit", "2", "--set", "steps=2",
                                      "--quiet", "--out", str(out)])
    _one_error_line(result, "e.g. 12 at row 2")
    assert not out.exists()


@needs_data("cifar10")
def test_a_damaged_cifar_tarball_is_named_in_one_error(tmp_path):
    arrays = _cifar_arrays()
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name in ("data_batch_1", "data_batch_2"):
            data = arrays["x_train"].tobytes() * 40  # incompressible pixels, so a cut lands mid-stream
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(SourceFormatError, match="is a damaged tarball"):
        open_source("cifar10", path).labels


# ---------------------------------------------------------------- MicroImageNet stand-in npz


def _micro_arrays() -> dict[str, np.ndarray]:
    """The first 6 train and 2 val images of the real stand-in npz (a class-names list of 10)."""
    with np.load(DATA / "microimagenet" / "tinyimagenet10_jpeg.npz") as npz:
        split = npz["split"]
        keep = np.concatenate([np.flatnonzero(split == "train")[:6], np.flatnonzero(split == "val")[:2]])
        offsets = npz["offsets"]
        blobs = [npz["jpeg"][offsets[i]:offsets[i + 1]] for i in keep]
        return {"jpeg": np.concatenate(blobs), "offsets": np.cumsum([0] + [len(b) for b in blobs]),
                "y": npz["y"][keep], "split": split[keep], "class_names": npz["class_names"]}


@needs_data("microimagenet")
@pytest.mark.parametrize("change, match", [
    (lambda a: {"offsets": a["offsets"] * 2}, "'offsets' must rise from 0 to the"),
    (lambda a: {"offsets": a["offsets"][::-1].copy()}, "not rising"),
    (lambda a: {"offsets": a["offsets"] + 0.5}, "'offsets' must be a 1-D integer array"),
    (lambda a: {"split": a["split"][:4]}, r"'split' must be a 1-D string array \(8,\)"),
    (lambda a: {"split": np.array(["Train"] * 8)}, r"'split' must name 'train'.*\['Train'\]"),
    (lambda a: {"y": np.full(8, 10)}, r"'y' has 8 label\(s\) outside .* e\.g\. 10 at row 0"),
    (lambda a: {"y": a["y"][:, None]}, r"'y' must be a 1-D integer array"),
    (lambda a: {"jpeg": a["jpeg"].astype(np.float32)}, "'jpeg' must be the images' bytes"),
])
def test_a_microimagenet_npz_with_bad_metadata_is_refused_when_opened_naming_the_array(tmp_path, change, match):
    arrays = _micro_arrays()
    path = _save(tmp_path / "stand-in.npz", {**arrays, **change(arrays)})
    with pytest.raises(SourceFormatError, match=match):
        open_source("microimagenet", path)


# ---------------------------------------------------------------- ModelNet10 meshes


def _real_off() -> tuple[str, str]:
    """The first OFF member of the real ModelNet10 test tarball: its name and text."""
    with tarfile.open(DATA / "modelnet10" / "modelnet10_test_off.tar.gz", "r|gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".off"):
                return member.name, archive.extractfile(member).read().decode()
    raise AssertionError("no OFF file in the tarball")


def _one_mesh_zip(path: Path, name: str, text: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
    return path


def _vertex_lines(text: str) -> tuple[list[str], int, int]:
    """The lines of an OFF text, where its vertices start, and how many there are."""
    lines = text.splitlines()
    counts = lines[0][3:].split() or lines[1].split()
    start = 1 if lines[0][3:].split() else 2
    return lines, start, int(counts[0])


@needs_data("modelnet10")
@pytest.mark.parametrize("damage, match", [
    ("nan vertex", r"vertex 0 is \[nan,"),
    ("all vertices at one point", "none of its .* faces has positive area"),
    ("coordinates beyond float range", "its coordinates span inf, too large to compute with"),
])
def test_a_mesh_that_has_no_usable_surface_is_named_when_read(tmp_path, damage, match):
    name, text = _real_off()
    lines, start, count = _vertex_lines(text)
    if damage == "nan vertex":
        lines[start] = "nan 0 0"
    elif damage == "all vertices at one point":
        lines[start:start + count] = ["1 2 3"] * count
    else:
        lines[start], lines[start + 1] = "-1e308 0 0", "1e308 0 0"
    source = open_source("modelnet10", _one_mesh_zip(tmp_path / "m.zip", name, "\n".join(lines)))
    with pytest.raises(SourceFormatError, match=rf"'{name}' in .*m.zip': {match}"):
        source.load([0])


@needs_data("modelnet10")
def test_a_zip_member_that_fails_its_crc_is_named_in_one_error(tmp_path):
    name, text = _real_off()
    raw = bytearray(_one_mesh_zip(tmp_path / "ok.zip", name, text).read_bytes())
    header = 30 + len(name)  # the local header, then the member's compressed bytes
    raw[header + 200] ^= 0xFF
    path = tmp_path / "m.zip"
    path.write_bytes(bytes(raw))
    with pytest.raises(SourceFormatError, match="m.zip' is damaged: reading it failed"):
        open_source("modelnet10", path).load([0])


@needs_data("modelnet10")
def test_a_truncated_mesh_tarball_is_named_in_one_error(tmp_path):
    path = tmp_path / "ModelNet10.tar.gz"
    with (DATA / "modelnet10" / "modelnet10_test_off.tar.gz").open("rb") as real:
        path.write_bytes(real.read(200_000))
    with pytest.raises(SourceFormatError, match="is a damaged archive: listing it failed"):
        open_source("modelnet10", path)


# ---------------------------------------------------------------- loaders and transforms


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    field = make_field("siren", hidden=8, layers=3)
    root = write_dataset(tmp_path_factory.mktemp("hostile") / "d", {"train": [nef_params(field, 6)]})
    return arena.load(root, split="train")


@pytest.mark.parametrize("kwargs, match", [
    ({"seed": 1.5}, "seed must be a non-negative integer or a sequence of them; got 1.5"),
    ({"seed": None}, "got None"),
    ({"shuffle": "no"}, "shuffle must be True or False; got 'no'"),
    ({"drop_last": None}, "drop_last must be True or False; got None"),
    ({"transforms": "permute"}, "Unknown transform 'permute'"),
    ({"transforms": ["noise"]}, "Unknown transform 'noise'"),
    ({"transforms": [PermuteHidden]}, "Transform PermuteHidden is a class"),
])
def test_loader_arguments_of_the_wrong_kind_are_refused_naming_the_value(split, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        next(split.batches(2, **kwargs))


def test_loader_flags_as_0_or_1_and_a_seed_as_any_sequence_still_work(split):
    first = lambda **kw: next(split.batches(2, **kw))[1].tolist()  # noqa: E731
    assert first(shuffle=1, seed=(3, 4)) == first(shuffle=True, seed=np.array([3, 4]))
    assert first(shuffle=0, drop_last=1) == first(shuffle=False, drop_last=True)


def test_batch_rows_and_read_batch_refuse_bad_epochs_rows_and_workers(split):
    with pytest.raises(ConfigError, match="epoch must be a non-negative integer; got -1"):
        split.batch_rows(2, epoch=-1)
    with pytest.raises(ConfigError, match="epoch must be a non-negative integer; got 1.5"):
        split.read_batch(np.array([0, 1]), epoch=1.5)
    with pytest.raises(ConfigError, match="rows must be integer NeF indices; got an array of dtype float64"):
        split.read_batch(np.array([0.5, 1.5]))  # not silently rows 0 and 1
    pytest.importorskip("torch")
    with pytest.raises(ConfigError, match="num_workers must be a non-negative integer; got -1"):
        split.torch(2, num_workers=-1)


@pytest.mark.parametrize("make, match", [
    (lambda info: GaussianNoise(float("inf")), "finite std >= 0; got inf"),
    (lambda info: GaussianNoise("0.1"), "GaussianNoise's std must be a number; got '0.1'"),
    (lambda info: Dropout("0.5"), "Dropout's p must be a number"),
    (lambda info: SignFlip(info, "0.5"), "SignFlip's p must be a number"),
    (lambda info: Normalize("a", 1.0), "Normalize takes numbers"),
])
def test_transform_settings_of_the_wrong_kind_are_refused_naming_the_value(split, make, match):
    with pytest.raises(ConfigError, match=match):
        make(split.info)


def test_transforms_refuse_batches_of_another_width_and_a_missing_generator(split):
    rng, other = np.random.default_rng(0), np.zeros((2, 5), np.float32)
    width = split.num_params
    with pytest.raises(ConfigError, match=rf"PermuteHidden takes a batch of parameters \(B, {width}\); got shape \(2, 5\)"):
        PermuteHidden(split.info)(other, rng)
    with pytest.raises(ConfigError, match=rf"SignFlip takes a batch of parameters \(B, {width}\)"):
        SignFlip(split.info)(other, rng)
    with pytest.raises(ConfigError, match=r"mean and std of 5 parameters; got params of shape \(6, \d+\)"):
        next(split.batches(6, transforms=[Normalize(np.zeros(5), np.ones(5))]))
    with pytest.raises(ConfigError, match="draws from a numpy Generator"):
        GaussianNoise(0.1)(split.params[:2], 3)

