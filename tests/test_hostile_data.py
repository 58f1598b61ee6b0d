"""Hostile input to the data-side commands: ``arena import-hdf5``, ``arena show``, ``arena subset``
and ``arena export`` end in one ``error:`` line, exit 1, and leave every file they did not create
as it was (nothing half written, nothing overwritten, no damaged parent copied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _nefdata import make_field, nef_params, write_dataset
from arena import format as fmt
from arena import hub
from arena.cli.main import app
from arena.errors import ChecksumError, ConfigError
from arena.subset import subset


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no escaped exception
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    return home


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A small dataset directory (train in two shards, test in one)."""
    field = make_field("siren")
    return write_dataset(tmp_path / "d", {"train": [nef_params(field, 5, seed=1), nef_params(field, 4, seed=2)],
                                          "test": [nef_params(field, 3, seed=3)]})


# --------------------------------------------------------------------------------------------
# arena import-hdf5


@pytest.fixture
def fitanef(tmp_path) -> Path:
    """``G``: a fit-a-nef folder of two HDF5 files (rows 0-3 and 3-6) of a SIREN."""
    pytest.importorskip("h5py")
    from test_interop import write_fitanef

    folder = tmp_path / "G"
    write_fitanef(folder, "siren", nef_params(make_field("siren"), 6, seed=4), np.arange(6) % 2,
                  blocks=[(0, 3), (3, 6)], dataset="Foo")
    return folder


def _corrupt_chunk(path: Path) -> None:
    """Rewrite ``path`` with a gzip-compressed ``params`` whose one chunk is then damaged."""
    import h5py

    with h5py.File(path, "r") as f:
        params, labels, config = f["params"][:], f["labels"][:], f["param_config"][0]
    with h5py.File(path, "w") as f:
        chunk = f.create_dataset("params", data=params, compression="gzip", chunks=params.shape)
        f.create_dataset("param_config", data=[config], dtype=h5py.special_dtype(vlen=str))
        f.create_dataset("labels", data=labels)
        info = chunk.id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    for i in range(info.byte_offset + info.size // 2, info.byte_offset + info.size):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("existing", ["notes.txt", "data/train-00000-of-00001.safetensors"])
def test_import_refuses_an_out_that_holds_anything_and_leaves_it_as_it_was(fitanef, tmp_path, existing):
    out = tmp_path / "u"
    (out / existing).parent.mkdir(parents=True, exist_ok=True)
    (out / existing).write_text("the user's own file")
    line = _one_error_line(_invoke("import-hdf5", fitanef, "--out", out))
    assert f"--out {out} is not empty" in line and "new or empty directory" in line
    assert _files(out) == {existing: b"the user's own file"}
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_import_refuses_the_store_and_a_folder_inside_another_dataset(fitanef, dataset, store):
    store.mkdir()
    before = _files(dataset)
    for out, fragment in [(store, "is the local store"), (store.parent, "holds the local store"),
                          (dataset / "data", f"lies inside the dataset {dataset}"),
                          (dataset / "data" / "new", f"lies inside the dataset {dataset}")]:
        line = _one_error_line(_invoke("import-hdf5", fitanef, "--out", out))
        assert fragment in line, line
    assert _files(dataset) == before and list(store.iterdir()) == []


def test_import_writes_into_an_empty_out_and_by_default_into_the_store(fitanef, tmp_path, store):
    out = tmp_path / "empty"
    out.mkdir()
    assert _invoke("import-hdf5", fitanef, "--out", out).exit_code == 0
    assert fmt.verify(out) == [] and fmt.Manifest.load(out).name == "neural_foo"
    result = _invoke("import-hdf5", fitanef)
    assert result.exit_code == 0, result.output
    written = Path(result.output.split("imported ", 1)[1].strip())
    assert written.parent == store / "datasets" / "neural_foo" and fmt.verify(written) == []


@pytest.mark.parametrize("use_out", [True, False])
def test_an_import_that_fails_midway_leaves_nothing_half_written(fitanef, tmp_path, store, use_out):
    _corrupt_chunk(fitanef / "nefs_3-6.hdf5")
    out = ["--out", tmp_path / "o"] if use_out else []
    line = _one_error_line(_invoke("import-hdf5", fitanef, "--split", "train=0:3", "--split", "test=3:6", *out))
    assert f"Cannot read rows 0..2 of {fitanef / 'nefs_3-6.hdf5'}" in line
    assert "filter returned failure" in line and "damaged" in line
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []
    assert not store.exists() or [p for p in store.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("hparam", ["omega_0=abc", "num_layers=abc", "omega_0=nan", "omega_0=NaN",
                                    "omega_0=Infinity", "omega_0=1e999", "omega_0=\"30\"", "omega_0="])
def test_an_hparam_that_is_not_a_finite_number_is_refused_before_anything_is_written(fitanef, tmp_path, hparam):
    line = _one_error_line(_invoke("import-hdf5", fitanef, "--hparam", hparam, "--out", tmp_path / "x"))
    assert f"--hparam {hparam}: expected a number" in line
    assert not (tmp_path / "x").exists()


def test_hparam_takes_numbers_and_booleans_as_nef_json_holds_them():
    from arena.cli._data import parse_hparams

    assert parse_hparams(["omega_0=30", "std=0.5", "learnable_coefficients=true"]) == {
        "omega_0": 30, "std": 0.5, "learnable_coefficients": True}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", None])
def test_import_refuses_a_hyperparameter_that_is_not_a_finite_number_from_python(fitanef, tmp_path, value):
    from arena.interop import import_hdf5

    with pytest.raises(ConfigError, match="number"):
        import_hdf5(fitanef, tmp_path / "x", hparams={"omega_0": value})
    assert not (tmp_path / "x").exists()


def test_import_names_a_file_that_is_not_a_readable_hdf5_file(fitanef, tmp_path):
    text = tmp_path / "x.hdf5"
    text.write_text("not HDF5 at all\n")
    truncated = tmp_path / "t" / "nefs_0-3.hdf5"
    truncated.parent.mkdir()
    truncated.write_bytes((fitanef / "nefs_0-3.hdf5").read_bytes()[:3000])
    for path, reason in [(text, "file signature not found"), (truncated, "truncated file")]:
        line = _one_error_line(_invoke("import-hdf5", path, "--out", tmp_path / "o"))
        assert f"{path} is not a readable HDF5 file" in line and reason in line, line
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------
# arena show


@pytest.mark.parametrize("target, fragment", [
    ("d/arena.json", "give a file name ending in .png"),
    ("out.jpg", "give a file name ending in .png"),
    ("anyfile", "give a file name ending in .png"),
    ("d/picture.png", "lies inside the dataset directory"),
    ("d/data/picture.png", "lies inside the dataset directory"),
])
def test_show_writes_only_png_files_outside_every_dataset(dataset, tmp_path, monkeypatch, target, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "anyfile").write_text("keep me")
    before = _files(dataset)
    line = _one_error_line(_invoke("show", dataset, "0", "-o", target))
    assert fragment in line and target in line, line
    assert _files(dataset) == before and (tmp_path / "anyfile").read_text() == "keep me"
    assert not (tmp_path / "out.jpg").exists()


def test_show_by_default_refuses_to_write_into_the_dataset_it_is_run_in(dataset, monkeypatch):
    monkeypatch.chdir(dataset)
    before = _files(dataset)
    line = _one_error_line(_invoke("show", dataset, "0", "--split", "train"))
    assert "lies inside the dataset directory" in line
    assert _files(dataset) == before


def test_show_refuses_a_mesh_file_that_is_not_obj_or_lies_inside_a_dataset(dataset, tmp_path):
    before = _files(dataset)
    for mesh, fragment in [(dataset / "arena.json", "ending in .obj"), (dataset / "m.obj", "lies inside")]:
        line = _one_error_line(_invoke("show", dataset, "0", "-o", tmp_path / "x.png", "--mesh", mesh))
        assert fragment in line, line
    assert _files(dataset) == before


def test_show_refuses_a_source_that_does_not_exist_even_for_digits(tmp_path):
    root = write_dataset(tmp_path / "digits", {"test": [nef_params(make_field("siren"), 2)]},
                         signal={"kind": "image", "shape": [8, 8, 1]}, source={"name": "digits", "num_classes": 10})
    line = _one_error_line(_invoke("show", root, "0", "-o", tmp_path / "x.png", "--source", "/nonexistent"))
    assert "--source /nonexistent does not exist" in line
    assert not (tmp_path / "x.png").exists()


def test_show_of_an_image_dataset_without_a_signal_shape_says_what_to_do_instead(tmp_path):
    root = write_dataset(tmp_path / "imported", {"train": [nef_params(make_field("siren"), 2)]},
                         signal={"kind": "image", "grid": "linspace_xy"})
    line = _one_error_line(_invoke("show", root, "0", "--split", "train", "-o", tmp_path / "x.png"))
    assert "records no image size" in line and "imported from fit-a-nef" in line and "--name neural_mnist" in line
    assert "signal.shape is None" not in line
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------------------------
# arena subset, arena export: a damaged parent is refused


def _damage(root: Path, rel: str) -> None:
    """Flip the last byte of ``rel``: same size, another sha256."""
    path = root / rel
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_subset_of_a_dataset_with_a_damaged_shard_is_refused_naming_it(store, tmp_path):
    field = make_field("siren")
    root = write_dataset(hub.local_path("neural_test", "1.0.0"),
                         {"train": [nef_params(field, 5, seed=1), nef_params(field, 4, seed=2)],
                          "test": [nef_params(field, 3, seed=3)]})
    damaged = "data/train-00001-of-00002.safetensors"
    _damage(root, damaged)
    line = _one_error_line(_invoke("subset", "neural_test", "--train", "2", "--out", tmp_path / "small"))
    assert "Cannot draw a subset of neural_test" in line and f"'{damaged}' in {root}" in line
    assert "arena verify" in line and "nothing was written" in line
    assert not (tmp_path / "small").exists()
    with pytest.raises(ChecksumError, match=damaged):
        subset(root, {"train": 2})
    assert not (store / "datasets" / "neural_test_subset").exists()


def test_export_of_a_dataset_with_a_damaged_shard_is_refused_naming_it(dataset, tmp_path):
    pytest.importorskip("datasets")
    damaged = "data/test-00000-of-00001.safetensors"
    _damage(dataset, damaged)
    line = _one_error_line(_invoke("export", dataset, "--out", tmp_path / "p"))
    assert "Cannot export neural_test" in line and f"'{damaged}'" in line and "arena verify" in line
    assert not (tmp_path / "p").exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []

