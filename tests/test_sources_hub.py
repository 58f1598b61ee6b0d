"""MNIST from a Hugging Face dataset of Parquet files, fetched by the real huggingface_hub client.

The repository is the real MNIST (all 70,000 images and labels, from $ARENA_DATA/mnist)
written the way ``ylecun/mnist`` stores it: ``mnist/{train,test}-00000-of-00001.parquet`` with an
``image`` struct of PNG bytes and an int64 ``label``. It is uploaded with huggingface_hub to the
Hub stand-in (``tests/hubserver.py``) on 127.0.0.1, since huggingface.co cannot be reached here.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from _sourcedata import DATA, needs_data
from typer.testing import CliRunner

from arena import format as fmt
from arena.errors import ArenaError, SourceFormatError
from arena.sources import open_source
from hubserver import HubServer
from test_hub import point_huggingface_hub_at

MNIST = DATA / "mnist"
pytestmark = needs_data("mnist")


def idx(name: str) -> np.ndarray:
    raw = gzip.decompress((MNIST / f"{name}.gz").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=16 if "images" in name else 8)


def png(image: np.ndarray) -> bytes:
    """A grayscale PNG written by hand (filter 0 on every row), independent of the reader's PIL."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = image.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), image], axis=1).tobytes()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


def write_parquet(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "image": pa.array([{"bytes": png(im), "path": None} for im in images], kind),
        "label": pa.array(labels.astype(np.int64)),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def mnist_parquet(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ylecun-mnist")
    for split, stem in (("train", "train"), ("test", "t10k")):
        images = idx(f"{stem}-images-idx3-ubyte").reshape(-1, 28, 28)
        write_parquet(root / "mnist" / f"{split}-00000-of-00001.parquet", images, idx(f"{stem}-labels-idx1-ubyte"))
    (root / "README.md").write_text("---\npretty_name: MNIST\n---\n")
    return root


@pytest.fixture(scope="module")
def served(mnist_parquet):
    """The Hub stand-in holding ylecun/mnist, uploaded once per module with huggingface_hub."""
    from huggingface_hub import HfApi, constants

    with pytest.MonkeyPatch.context() as mp, HubServer() as server:
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        api = HfApi(endpoint=server.endpoint, token="test-token")
        api.create_repo("ylecun/mnist", repo_type="dataset")
        api.upload_folder(folder_path=mnist_parquet, repo_id="ylecun/mnist", repo_type="dataset")
        yield server


@pytest.fixture
def hub(served, tmp_path, monkeypatch):
    """huggingface_hub pointed at the stand-in, a fresh local store (so a cold cache) per test."""
    from huggingface_hub import constants

    for var in ("ARENA_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    point_huggingface_hub_at(served.endpoint, monkeypatch)
    return served


def test_hub_mnist_gives_the_idx_files_pixels_labels_and_indices(hub):
    from_hub = open_source("mnist", "hf://datasets/ylecun/mnist")
    from_idx = open_source("mnist", MNIST)
    assert len(from_hub) == 70_000
    assert {k: v.tolist() for k, v in from_hub.splits.items()} == {k: v.tolist() for k, v in from_idx.splits.items()}
    np.testing.assert_array_equal(from_hub.labels, from_idx.labels)
    np.testing.assert_array_equal(from_hub.index, from_idx.index)
    positions = [0, 1, 54_999, 59_999, 60_000, 69_999]
    a, b = from_hub.load(positions), from_idx.load(positions)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert a[0].shape == (6, 28, 28, 1) and a[0].dtype == np.uint8


def test_hub_mnist_records_the_commit_and_the_parquet_hashes(hub):
    source = open_source("mnist", "hf://datasets/ylecun/mnist")
    commit = hub.commit_of(hub.repos["ylecun/mnist"], "main")
    block = source.describe()
    assert block["revision"] == f"hf://datasets/ylecun/mnist@{commit}"
    assert sorted(block["sha256"]) == ["mnist/test-00000-of-00001.parquet", "mnist/train-00000-of-00001.parquet"]
    import hashlib
    served = hub.file_bytes("ylecun/mnist", "main", "mnist/train-00000-of-00001.parquet")
    assert block["sha256"]["mnist/train-00000-of-00001.parquet"] == hashlib.sha256(served).hexdigest()


def test_hub_mnist_reads_the_cache_offline_and_says_what_to_do_when_cold(hub, monkeypatch, tmp_path):
    open_source("mnist", "hf://datasets/ylecun/mnist")  # warm the cache
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    assert len(open_source("mnist", "hf://datasets/ylecun/mnist")) == 70_000
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "cold"))
    with pytest.raises(ArenaError, match="offline") as err:
        open_source("mnist", "hf://datasets/ylecun/mnist")
    assert "\n" not in str(err.value)


def test_hub_repo_without_a_test_split_is_refused_naming_its_files(hub, tmp_path):
    from huggingface_hub import HfApi

    write_parquet(tmp_path / "only" / "train-00000-of-00001.parquet", np.zeros((2, 28, 28), np.uint8), np.zeros(2))
    api = HfApi(endpoint=hub.endpoint, token="test-token")
    api.create_repo("someone/half-mnist", repo_type="dataset")
    api.upload_folder(folder_path=tmp_path / "only", repo_id="someone/half-mnist", repo_type="dataset")
    with pytest.raises(SourceFormatError, match="train-00000-of-00001.parquet"):
        open_source("mnist", "hf://datasets/someone/half-mnist")
    with pytest.raises(ArenaError, match="no dataset repository 'someone/nothing'"):
        open_source("mnist", "hf://datasets/someone/nothing")
    with pytest.raises(ArenaError, match="not a Hugging Face dataset URL"):
        open_source("mnist", "hf://models/someone/x")


def test_build_from_the_hub_writes_the_same_shards_as_from_the_idx_files(hub, tmp_path):
    from arena.cli.build import app

    runner = CliRunner()
    args = ["mnist", "--limit", "4", "--set", "steps=20", "--quiet"]
    r1 = runner.invoke(app, [*args, "--source", "hf://datasets/ylecun/mnist", "--out", str(tmp_path / "hub")])
    r2 = runner.invoke(app, [*args, "--source", str(MNIST), "--out", str(tmp_path / "idx")])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    a, b = fmt.open_dataset(tmp_path / "hub").manifest.to_dict(), fmt.open_dataset(tmp_path / "idx").manifest.to_dict()
    assert a["source"]["revision"].startswith("hf://datasets/ylecun/mnist@")
    for split in ("train", "val", "test"):
        assert [f["sha256"] for f in a["splits"][split]["files"]] == [f["sha256"] for f in b["splits"][split]["files"]]


@pytest.mark.parametrize("path, split", [
    ("mnist/train-00000-of-00001.parquet", "train"),
    ("data/test-00001-of-00002.parquet", "test"),
    ("default/train/0000.parquet", "train"),
    ("default/test/0003.parquet", "test"),
    ("00000.parquet", None),
])
def test_parquet_files_are_assigned_to_splits_by_their_path(path, split):
    from arena.sources._parquet import split_of

    assert split_of(path) == split
