"""The Arena format, version 1: shards, manifest, checks and readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from arena import format as fmt
from arena.errors import (
    ArenaError,
    ChecksumError,
    ConfigError,
    ManifestError,
    MissingFileError,
    ShardError,
    SizeMismatchError,
    UnsafePathError,
    UnsupportedFormatError,
)
from arena import errors as fmt_errors
from arena.layout import Layout

LAYOUT = Layout([("layers.0.weight", (2, 3)), ("layers.0.bias", (3,))])
P = LAYOUT.num_params


def _arrays(n: int, seed: int = 0, start: int = 0):
    rng = np.random.default_rng(seed)
    params = rng.standard_normal((n, P)).astype(np.float32)
    label = rng.integers(0, 10, n).astype(np.int64)
    index = np.arange(start, start + n, dtype=np.int64)
    metrics = {
        "psnr": rng.uniform(20, 40, n).astype(np.float32),
        "psnr_offgrid": rng.uniform(20, 40, n).astype(np.float32),
    }
    return params, label, index, metrics


def _manifest_dict(splits: dict, init: dict | None = None) -> dict:
    data = {
        "format": "arena/1",
        "name": "neural_test",
        "version": "1.0.0",
        "source": {"name": "test", "num_classes": 10},
        "signal": {"kind": "image", "shape": [2, 2, 1]},
        "field": {"arch": "siren", "layout": LAYOUT.to_json(), "kernel": "in_out", "num_params": P},
        "fit": {"loss": "mse", "steps": 1},
        "splits": splits,
        "builder": {"name": "test", "version": "0"},
    }
    if init is not None:
        data["init"] = init
    return data


def _build(root: Path, sizes: dict[str, list[int]]) -> dict:
    """Write a small dataset: ``sizes[split]`` gives the rows of each of its shards."""
    fmt.write_init(root / fmt.INIT_NAME, np.arange(P, dtype=np.float32))
    splits, start = {}, 0
    for s, (split, rows) in enumerate(sizes.items()):
        paths = []
        for i, n in enumerate(rows):
            path = fmt.shard_name(split, i, len(rows))
            fmt.write_shard(root / path, *_arrays(n, seed=10 * s + i, start=start))
            start += n
            paths.append(path)
        splits[split] = fmt.split_entry(root, paths)
    data = _manifest_dict(splits, fmt.file_entry(root, fmt.INIT_NAME))
    fmt.Manifest(data).write(root)
    return data


def _write_manifest(root: Path, data: dict) -> None:
    (root / fmt.MANIFEST_NAME).write_text(json.dumps(data))


def _flip_byte(path: Path, offset: int = -1) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


# Shards


@pytest.mark.parametrize("mmap", [True, False])
def test_shard_round_trip_is_exact(tmp_path, mmap):
    params, label, index, metrics = _arrays(7)
    path = fmt.write_shard(tmp_path / fmt.shard_name("train", 0, 1), params, label, index, metrics)
    arrays = fmt.shard_arrays(path, mmap=mmap)
    assert set(arrays) == {"params", "label", "index", "metric.psnr", "metric.psnr_offgrid"}
    np.testing.assert_array_equal(arrays["params"], params)
    np.testing.assert_array_equal(arrays["label"], label)
    np.testing.assert_array_equal(arrays["index"], index)
    for name, values in metrics.items():
        np.testing.assert_array_equal(arrays[f"metric.{name}"], values)
    assert arrays["params"].dtype == np.float32 and arrays["label"].dtype == np.int64


def test_memmap_reader_matches_safetensors_load_file(tmp_path):
    path = fmt.write_shard(tmp_path / "s.safetensors", *_arrays(5))
    mine = fmt.shard_arrays(path, mmap=True)
    reference = safetensors.numpy.load_file(str(path))
    assert set(mine) == set(reference)
    for name, values in reference.items():
        assert isinstance(mine[name], np.memmap)
        assert mine[name].dtype == values.dtype and mine[name].shape == values.shape
        np.testing.assert_array_equal(mine[name], values)


def test_memmapped_params_are_read_only(tmp_path):
    path = fmt.write_shard(tmp_path / "s.safetensors", *_arrays(3))
    params = fmt.shard_arrays(path)["params"]
    with pytest.raises(ValueError):
        params[0, 0] = 1.0


def test_write_is_deterministic(tmp_path):
    params, label, index, metrics = _arrays(6)
    a = fmt.write_shard(tmp_path / "a.safetensors", params, label, index, metrics)
    reordered = dict(reversed(list(metrics.items())))
    b = fmt.write_shard(tmp_path / "b.safetensors", params.copy(), label, index, reordered)
    assert a.read_bytes() == b.read_bytes()
    c = fmt.write_init(tmp_path / "c.safetensors", params[0])
    d = fmt.write_init(tmp_path / "d.safetensors", params[0].copy())
    assert c.read_bytes() == d.read_bytes()


def test_interrupted_write_leaves_no_final_file(tmp_path, monkeypatch):
    def crash(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    target = tmp_path / fmt.shard_name("train", 0, 1)
    with pytest.raises(OSError, match="simulated crash"):
        fmt.write_shard(target, *_arrays(4))
    assert not target.exists()
    leftovers = [p.name for p in target.parent.iterdir()]
    assert leftovers in ([], [target.name + fmt.INCOMPLETE_SUFFIX])


def test_write_shard_creates_the_data_directory_and_no_temporary_remains(tmp_path):
    target = tmp_path / fmt.shard_name("val", 2, 3)
    fmt.write_shard(target, *_arrays(2))
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"params": np.zeros((3, P))}, "params must be float32"),
        ({"params": np.zeros(P, np.float32)}, r"params must have shape \(n, P\)"),
        ({"label": np.zeros(2, np.int64)}, r"label must have shape \(3,\)"),
        ({"index": np.zeros(3, np.float32)}, "index must hold integers"),
        ({"metrics": {"psnr": np.zeros(3)}}, "metric 'psnr' must be float32"),
        ({"metrics": {"bad name": np.zeros(3, np.float32)}}, "Metric name 'bad name'"),
    ],
)
def test_write_shard_refuses_wrong_dtypes_and_shapes(tmp_path, change, message):
    params, label, index, _ = _arrays(3)
    args = {"params": params, "label": label, "index": index, "metrics": {}} | change
    with pytest.raises(ConfigError, match=message):
        fmt.write_shard(tmp_path / "s.safetensors", **args)
    assert not list(tmp_path.iterdir())


def test_write_shard_widens_integer_labels_to_int64(tmp_path):
    params, label, index, _ = _arrays(3)
    path = fmt.write_shard(tmp_path / "s.safetensors", params, label.astype(np.uint8), index)
    assert fmt.shard_arrays(path)["label"].dtype == np.int64


def test_shard_name_follows_the_format():
    assert fmt.shard_name("train", 3, 12) == "data/train-00003-of-00012.safetensors"
    with pytest.raises(ConfigError, match="out of range"):
        fmt.shard_name("train", 4, 4)
    with pytest.raises(ConfigError, match="Split name"):
        fmt.shard_name("../train", 0, 1)


def test_file_entry_hashes_and_counts_shard_rows(tmp_path):
    path = fmt.write_shard(tmp_path / fmt.shard_name("train", 0, 1), *_arrays(4))
    entry = fmt.file_entry(tmp_path, fmt.shard_name("train", 0, 1))
    assert entry["bytes"] == path.stat().st_size
    assert entry["sha256"] == fmt.sha256_file(path)
    assert entry["num_examples"] == 4
    fmt.write_init(tmp_path / fmt.INIT_NAME, np.zeros(P, np.float32))
    assert "num_examples" not in fmt.file_entry(tmp_path, fmt.INIT_NAME)


# Manifest


def test_manifest_is_written_canonically_and_round_trips(tmp_path):
    data = _build(tmp_path, {"train": [3]})
    text = (tmp_path / fmt.MANIFEST_NAME).read_text()
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    loaded = fmt.Manifest.load(tmp_path)
    assert loaded == fmt.Manifest(data)
    assert loaded.layout == LAYOUT and loaded.num_params == P
    assert loaded.files("train")[0].num_examples == 3
    assert fmt.Manifest.FORMAT == "arena/1"


def test_unknown_format_version_is_refused(tmp_path):
    data = _build(tmp_path, {"train": [2]})
    _write_manifest(tmp_path, data | {"format": "arena/2"})
    with pytest.raises(UnsupportedFormatError) as info:
        fmt.open_dataset(tmp_path)
    message = str(info.value)
    assert "'arena/2'" in message and "'arena/1'" in message and "pip install -U" in message


def test_manifest_missing_a_required_key_is_refused():
    data = _manifest_dict({"train": {"num_examples": 0, "files": []}})
    del data["builder"]
    with pytest.raises(ManifestError, match=r"missing the required keys \['builder'\]"):
        fmt.Manifest(data)


def test_manifest_layout_and_num_params_mismatch_is_refused():
    data = _manifest_dict({"train": {"num_examples": 0, "files": []}})
    data["field"]["num_params"] = P + 1
    with pytest.raises(ManifestError, match=f"'field.num_params' is {P + 1}.*holds {P}"):
        fmt.Manifest(data)
    data["field"]["num_params"] = P
    data["field"]["layout"] = [["w", [0, 3]]]
    with pytest.raises(ManifestError, match="'field.layout' is invalid"):
        fmt.Manifest(data)


def test_manifest_refuses_numpy_scalars_with_a_hint():
    data = _manifest_dict({"train": {"num_examples": 0, "files": []}})
    data["stats"] = {"psnr": np.float32(30.0)}
    with pytest.raises(ManifestError, match=r"float\(\)"):
        fmt.Manifest(data)


@pytest.mark.parametrize(
    "bad_path",
    ["../x", "/etc/passwd", "data/../../x", "./data/x", "data//x", "C:/x", "data\\x"],
)
def test_manifest_paths_leaving_the_dataset_are_refused(tmp_path, bad_path):
    data = _build(tmp_path, {"train": [2]})
    data["splits"]["train"]["files"][0]["path"] = bad_path
    _write_manifest(tmp_path, data)
    with pytest.raises(UnsafePathError) as info:
        fmt.open_dataset(tmp_path)
    assert repr(bad_path) in str(info.value)
    with pytest.raises(UnsafePathError):
        fmt.verify(tmp_path)


def test_symlinked_files_are_followed_like_a_hub_cache_snapshot(tmp_path):
    root = tmp_path / "snapshot"
    root.mkdir()
    _build(root, {"train": [2]})
    shard = root / fmt.shard_name("train", 0, 1)
    blob = tmp_path / "blobs" / "0123"
    blob.parent.mkdir()
    shard.rename(blob)
    try:
        shard.symlink_to(blob)
    except OSError:
        pytest.skip("symbolic links are not available here")
    assert fmt.verify(root) == []
    assert len(fmt.read_split(root, "train").label) == 2


# Opening and verifying


def test_tampered_shard_is_refused_with_checksum_error_naming_it(tmp_path):
    _build(tmp_path, {"train": [3, 3], "test": [2]})
    bad = fmt.shard_name("train", 1, 2)
    _flip_byte(tmp_path / bad)
    fmt.open_dataset(tmp_path)  # sizes still match: only hashing finds it
    with pytest.raises(ChecksumError) as info:
        fmt.open_dataset(tmp_path, verify=True)
    message = str(info.value)
    assert bad in message
    entry = fmt.Manifest.load(tmp_path).files("train")[1]
    assert entry.sha256 in message and fmt.sha256_file(tmp_path / bad) in message


def test_missing_file_is_refused(tmp_path):
    _build(tmp_path, {"train": [2, 2]})
    missing = fmt.shard_name("train", 0, 2)
    (tmp_path / missing).unlink()
    with pytest.raises(MissingFileError, match=missing):
        fmt.open_dataset(tmp_path)


def test_size_mismatch_is_refused(tmp_path):
    _build(tmp_path, {"train": [2]})
    shard = tmp_path / fmt.shard_name("train", 0, 1)
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(SizeMismatchError, match=fmt.shard_name("train", 0, 1)):
        fmt.open_dataset(tmp_path)


def test_missing_manifest_says_it_is_not_a_dataset(tmp_path):
    with pytest.raises(MissingFileError, match="not an Arena dataset directory"):
        fmt.open_dataset(tmp_path)


def test_verify_lists_every_bad_file(tmp_path):
    _build(tmp_path, {"train": [2, 2, 2], "test": [2]})
    assert fmt.verify(tmp_path) == []
    first, second = fmt.shard_name("train", 0, 3), fmt.shard_name("test", 0, 1)
    _flip_byte(tmp_path / first)
    (tmp_path / second).unlink()
    problems = fmt.verify(tmp_path)
    assert sorted(type(p).__name__ for p in problems) == ["ChecksumError", "MissingFileError"]
    assert any(first in str(p) for p in problems) and any(second in str(p) for p in problems)


def test_unlisted_files_are_never_read(tmp_path):
    _build(tmp_path, {"train": [2]})
    (tmp_path / "data" / "stray.safetensors").write_bytes(b"not a shard")
    (tmp_path / (fmt.shard_name("train", 0, 1) + fmt.INCOMPLETE_SUFFIX)).write_bytes(b"junk")
    assert fmt.verify(tmp_path) == []
    assert len(fmt.read_split(tmp_path, "train").label) == 2


def test_errors_subclass_arena_error_and_a_builtin():
    for error, builtin in [
        (ChecksumError, ValueError),
        (SizeMismatchError, ValueError),
        (UnsafePathError, ValueError),
        (UnsupportedFormatError, ValueError),
        (ManifestError, ValueError),
        (ShardError, ValueError),
        (MissingFileError, FileNotFoundError),
    ]:
        assert issubclass(error, ArenaError) and issubclass(error, builtin)


# Reading splits


def test_read_split_concatenates_shards_in_manifest_order(tmp_path):
    _build(tmp_path, {"train": [3, 4, 2]})
    expected = [_arrays(n, seed=i, start=s) for i, (n, s) in enumerate([(3, 0), (4, 3), (2, 7)])]
    split = fmt.read_split(tmp_path, "train")
    assert isinstance(split.params, fmt.ShardedArray) and split.params.shape == (9, P)
    np.testing.assert_array_equal(
        np.asarray(split.params), np.concatenate([e[0] for e in expected])
    )
    np.testing.assert_array_equal(split.label, np.concatenate([e[1] for e in expected]))
    np.testing.assert_array_equal(split.index, np.arange(9))
    np.testing.assert_array_equal(
        split.metrics["psnr"], np.concatenate([e[3]["psnr"] for e in expected])
    )
    in_memory = fmt.read_split(tmp_path, "train", mmap=False)
    assert type(in_memory.params) is np.ndarray
    np.testing.assert_array_equal(in_memory.params, np.asarray(split.params))


def test_sharded_array_indexes_like_the_concatenation(tmp_path):
    _build(tmp_path, {"train": [3, 4, 2]})
    lazy = fmt.read_split(tmp_path, "train").params
    full = np.asarray(lazy)
    mask = np.arange(9) % 2 == 0
    for key in [0, 4, -1, slice(2, 8), slice(None, None, -3), [8, 0, 3, 3], mask, (5, 2),
                (slice(1, 6), slice(0, 4)), (np.array([7, 1]), 3)]:
        np.testing.assert_array_equal(lazy[key], full[key])
    assert [row.tolist() for row in lazy] == full.tolist()
    with pytest.raises(IndexError):
        lazy[9]


def test_one_shard_split_is_a_plain_memmap(tmp_path):
    _build(tmp_path, {"train": [3]})
    split = fmt.read_split(tmp_path, "train")
    assert isinstance(split.params, np.memmap) and split.params.shape == (3, P)


def test_read_split_names_the_splits_when_one_is_unknown(tmp_path):
    _build(tmp_path, {"train": [2], "val": [1]})
    with pytest.raises(ConfigError, match=r"no split 'trian'.*\['train', 'val'\]"):
        fmt.read_split(tmp_path, "trian")


def test_read_split_checks_only_its_own_files(tmp_path):
    _build(tmp_path, {"train": [2], "test": [1]})
    (tmp_path / fmt.shard_name("test", 0, 1)).unlink()
    assert len(fmt.read_split(tmp_path, "train").label) == 2
    with pytest.raises(MissingFileError, match=fmt.shard_name("test", 0, 1)):
        fmt.read_split(tmp_path, "test")


def test_read_init_round_trips(tmp_path):
    _build(tmp_path, {"train": [2]})
    np.testing.assert_array_equal(fmt.read_init(tmp_path), np.arange(P, dtype=np.float32))


# Resuming builds


def test_completed_shards_ignores_incomplete_and_truncated_shards(tmp_path):
    for i in range(4):
        fmt.write_shard(tmp_path / fmt.shard_name("train", i, 5), *_arrays(3, seed=i))
    truncated = tmp_path / fmt.shard_name("train", 1, 5)
    truncated.write_bytes(truncated.read_bytes()[:-1])
    garbage = tmp_path / fmt.shard_name("train", 2, 5)
    garbage.write_bytes(b"\x00" * 3)
    pending = tmp_path / (fmt.shard_name("train", 4, 5) + fmt.INCOMPLETE_SUFFIX)
    pending.write_bytes((tmp_path / fmt.shard_name("train", 0, 5)).read_bytes())
    assert fmt.completed_shards(tmp_path, "train", 5) == {0, 3}
    assert fmt.completed_shards(tmp_path, "train", 5, num_params=P + 1) == set()


# Dependencies


def test_format_imports_neither_jax_nor_torch():
    code = "import sys, arena.format; print(sorted({'jax', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_writer_killed_mid_shard_leaves_only_its_incomplete_file(tmp_path):
    """SIGKILL while a large shard is being written: the directory may hold ``<name>.incomplete``
    (which readers skip and a resumed build rewrites) and nothing else, no stray temporary."""
    import signal
    import time

    target = tmp_path / "data" / "train-00000-of-00001.safetensors"
    code = (
        "import numpy as np, sys; from arena import format as fmt; "
        "n = 60000; fmt.write_shard(sys.argv[1], np.ones((n, 1185), np.float32), "
        "np.zeros(n, np.int64), np.arange(n))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    deadline = time.time() + 60
    seen = []
    while time.time() < deadline and proc.poll() is None:
        seen = [p for p in target.parent.glob("*") if p.is_file()] if target.parent.exists() else []
        if any(p.stat().st_size > 0 for p in seen):
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert seen, "the writer finished or never started before it could be interrupted"
    left = sorted(p.name for p in target.parent.iterdir())
    assert all(name == target.name + fmt.INCOMPLETE_SUFFIX or name == target.name for name in left), left


# The package's public names


def test_the_format_package_keeps_every_public_name_of_the_module_it_was():
    names = {
        "FORMAT", "MANIFEST_NAME", "INIT_NAME", "DATA_DIR", "INCOMPLETE_SUFFIX", "METRIC_PREFIX",
        "REQUIRED_KEYS", "OPTIONAL_KEYS", "SCHEMA_ID", "MAX_MANIFEST_BYTES", "MAX_MANIFEST_DEPTH",
        "PathLike", "shard_name", "write_shard", "write_init", "write_bytes_atomic", "sha256_file",
        "file_entry", "split_entry", "FileEntry", "Manifest", "DatasetFiles", "open_dataset",
        "verify", "check_labels", "check_file", "shard_arrays", "completed_shards", "ShardedArray",
        "SplitArrays", "dataset_stats", "read_split", "read_init",
    }
    assert names <= set(fmt.__all__) and all(hasattr(fmt, n) for n in fmt.__all__)
    assert fmt.Manifest.__module__ == "arena.format._manifest"


# The manifest as a read-only mapping with typed accessors


def _split_layout() -> Layout:
    return Layout([("net.0.weight", (2, 8)), ("net.0.bias", (8,)), ("net.1.weight", (8, 1)),
                   ("net.1.bias", (1,))])


def test_split_info_is_the_mapping_the_readme_prints(tmp_path):
    import arena
    from _nefdata import write_dataset

    layout = _split_layout()
    write_dataset(tmp_path, {"train": [np.zeros((4, layout.num_params), np.float32)],
                             "test": [np.zeros((2, layout.num_params), np.float32)]}, layout=layout)
    split = arena.load(tmp_path, split="train")
    assert split.info["field"]["arch"] == "siren"
    assert split.info["field"]["num_params"] == layout.num_params
    assert "splits" in split.info and split.info.get("license") is None
    assert set(split.info) == set(split.info.keys()) and len(split.info) == len(split.info.data)
    assert repr(split.info) == ("Manifest(name='neural_test', version='1.0.0', arch='siren', "
                                f"num_params={layout.num_params}, splits={{'train': 4, 'test': 2}})")


def test_a_manifest_cannot_be_changed_through_what_it_returns(tmp_path):
    manifest = fmt.Manifest(_build(tmp_path, {"train": [3]}))
    before = manifest.dumps()
    manifest["field"]["arch"] = "mfn"
    manifest.fit["steps"] = 99
    manifest.hparams["hidden"] = 1
    manifest.signal["kind"] = "shape"
    with pytest.raises(TypeError):
        manifest["name"] = "other"
    assert manifest.dumps() == before and manifest.arch == "siren" and manifest.fit["steps"] == 1


def test_typed_accessors_read_the_keys_code_uses():
    data = _manifest_dict({"train": {"num_examples": 0, "files": []}})
    data["source"] = {"name": "mnist", "origin": "https://example.org", "class_names": ["a", "b"]}
    data["license"], data["citation"], data["description"] = "cc-by-4.0", "@misc{x}", "Tiny."
    data["field"]["hparams"] = {"hidden": 8}
    data["fit"] = {"optimizer": "adam", "lr": 0.001, "steps": 5}
    data["stats"] = {"metrics": {"train": {"psnr": 30.0}}}
    m = fmt.Manifest(data)
    assert (m.source_name, m.source_origin, m.num_classes, m.class_names) == (
        "mnist", "https://example.org", 2, ("a", "b"))
    assert (m.signal_kind, m.signal_shape, m.arch, m.hparams) == ("image", (2, 2, 1), "siren", {"hidden": 8})
    assert (m.license, m.citation, m.description) == ("cc-by-4.0", "@misc{x}", "Tiny.")
    assert m.fit == {"optimizer": "adam", "lr": 0.001, "steps": 5}
    assert m.metrics == {"train": {"psnr": 30.0}}
    bare = fmt.Manifest(_manifest_dict({"train": {"num_examples": 0, "files": []}}))
    assert (bare.license, bare.description, bare.class_names, bare.metrics) == (None, None, None, {})
    assert bare.num_classes == 10 and fmt.Manifest(m) == m


# Atomic writers


def test_written_files_are_group_readable_whatever_mode_the_writer_used(tmp_path):
    old = os.umask(0o022)
    try:
        target = fmt.write_atomic(tmp_path / "lib.so", lambda tmp: os.close(os.open(tmp, os.O_CREAT | os.O_WRONLY, 0o600)))
        other = fmt.write_text_atomic(tmp_path / "card.md", "hello\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644 and other.stat().st_mode & 0o777 == 0o644
    assert other.read_bytes() == b"hello\n"


def test_write_json_atomic_writes_indented_json_and_one_newline(tmp_path):
    path = fmt.write_json_atomic(tmp_path / "a" / "r.json", {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    fmt.write_json_atomic(path, {"b": 1, "a": 2}, sort_keys=False, unique=True)
    assert path.read_text() == '{\n  "b": 1,\n  "a": 2\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_a_failed_write_names_the_file_and_leaves_the_old_one(tmp_path):
    path = fmt.write_bytes_atomic(tmp_path / "r.json", b"old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError(13, "Permission denied")

    with pytest.raises(fmt_errors.WriteError, match=f"Could not write {path}: Permission denied. Nothing was written"):
        fmt.write_atomic(path, fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_commit_incomplete_renames_a_streamed_file_and_keeps_it_when_that_fails(tmp_path, monkeypatch):
    final = tmp_path / "big.bin"
    part = fmt.incomplete_path(final)
    assert part.name == "big.bin" + fmt.INCOMPLETE_SUFFIX
    part.write_bytes(b"abc")
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(fmt_errors.WriteError, match="No space left on device"):
        fmt.commit_incomplete(final)
    assert part.read_bytes() == b"abc" and not final.exists()  # a later attempt resumes from it
    monkeypatch.undo()
    assert fmt.commit_incomplete(final).read_bytes() == b"abc" and not part.exists()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("before", ["absent", "empty", "old"])
def test_a_staged_directory_replaces_its_target_only_when_complete(tmp_path, before):
    target = tmp_path / "out"
    if before != "absent":
        target.mkdir()
    if before == "old":
        (target / "stale.txt").write_text("old")
    inode = target.stat().st_ino if before == "empty" else None
    with fmt.staged_directory(target, fill_empty=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.partial-")
        fmt.write_bytes_atomic(tmp / "data" / "a.bin", b"a")
        fmt.write_bytes_atomic(tmp / fmt.MANIFEST_NAME, b"{}")
    assert _tree(target) == {"arena.json": b"{}", "data/a.bin": b"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing staged or set aside is left
    if inode is not None:
        assert target.stat().st_ino == inode  # an empty directory is filled, not replaced


def test_a_staged_directory_that_fails_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(ConfigError, match="stop"):
        with fmt.staged_directory(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise ConfigError("stop")
    assert _tree(target) == {"keep.txt": b"old"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
