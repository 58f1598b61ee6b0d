"""A hostile user and a hostile remote against the hub: push, download and verify.

Each test pins one defect found by trying it: a push that overwrote or deleted files it did not
write, a push that left out files its manifest lists, a download that read a remote file past
its listed size, a cached manifest trusted after it changed, and file names that split errors
over lines. Real files, the real ``file://`` filesystem and the Hub stand-in of
``tests/hubserver.py``; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_hostile_store import assert_one_line_error, cli, tree
from test_hub import listed, make_dataset, point_huggingface_hub_at

from arena import format as fmt
from arena import hub
from arena.format._names import check_relpath
from arena.errors import ChecksumError, ConfigError, SizeMismatchError, UnsafePathError

from hubserver import HubServer

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # in huggingface_hub

SHARD = "data/train-00000-of-00001.safetensors"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A fresh store per test; no offline flag, no extra registry; the Hub is a closed port."""
    for var in ("ARENA_REGISTRY", "ARENA_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_TOKEN", "test-token")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    point_huggingface_hub_at("http://127.0.0.1:9", monkeypatch)
    return tmp_path / "home"


@pytest.fixture
def hf(monkeypatch):
    with HubServer() as server:
        point_huggingface_hub_at(server.endpoint, monkeypatch)
        yield server


def rename_listed(root: Path, old: str, new: str) -> None:
    """Move a listed file to ``new`` and list it there (the manifest's JSON rewritten as is, so
    that a name the format refuses can be written)."""
    data = json.loads((root / fmt.MANIFEST_NAME).read_text())
    for entry in data["splits"]["train"]["files"]:
        if entry["path"] == old:
            entry["path"] = new
    (root / new).parent.mkdir(parents=True, exist_ok=True)
    (root / old).rename(root / new)
    (root / fmt.MANIFEST_NAME).write_text(json.dumps(data, indent=2))


# --------------------------------------------------------------------------------------------
# Pushes write only what they own


def test_a_url_push_never_overwrites_a_file_it_did_not_write_unless_forced(tmp_path, home):
    src = make_dataset(tmp_path / "src")
    folder = tmp_path / "my_project"
    folder.mkdir()
    (folder / "README.md").write_text("my own notes\n")
    (folder / "notes.txt").write_text("keep me\n")
    before = tree(folder)
    result = cli("push", str(src), "--repo", folder.as_uri())
    assert_one_line_error(result, "'README.md', which this push would overwrite")
    assert tree(folder) == before
    assert not hub.home_registry().exists()
    hub.push(src, folder.as_uri(), force=True)  # asked for: the card replaces theirs, nothing else goes
    assert (folder / "notes.txt").read_text() == "keep me\n"
    assert fmt.verify(folder) == []


@pytest.mark.parametrize("left", ["whole", "half"])
def test_a_url_push_goes_on_over_its_own_unfinished_copy(tmp_path, left):
    """An interrupted push leaves whole files, and on file:// the first bytes of the one it was writing."""
    src = make_dataset(tmp_path / "src")
    remote = tmp_path / "remote"
    (remote / "data").mkdir(parents=True)
    data = (src / SHARD).read_bytes()
    (remote / SHARD).write_bytes(data if left == "whole" else data[: len(data) // 2])
    assert hub.push(src, remote.as_uri()) == remote.as_uri()
    assert listed(remote) == listed(src)


def test_a_url_push_into_the_local_store_is_refused_and_writes_nothing(tmp_path, home):
    src = make_dataset(tmp_path / "src")
    make_dataset(hub.local_path("neural_tiny", "1.0.0"))
    before = tree(home)
    for inside in (home, home / "datasets" / "neural_tiny" / "2.0.0", home / "hub" / "url" / "x"):
        assert_one_line_error(cli("push", str(src), "--repo", inside.as_uri()), "is inside the local store")
    assert tree(home) == before
    assert hub.resolve("neural_tiny") == hub.local_path("neural_tiny", "1.0.0")


def test_a_url_push_to_a_file_is_one_clear_line(tmp_path):
    src = make_dataset(tmp_path / "src")
    target = tmp_path / "a_file"
    target.write_text("mine\n")
    assert_one_line_error(cli("push", str(src), "--repo", target.as_uri()), "is a file, not a directory")
    assert target.read_text() == "mine\n"


def test_a_hub_push_never_deletes_the_files_of_a_repository_that_is_not_a_dataset(tmp_path, hf):
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hf.endpoint, token="test-token")
    api.create_repo("me/project", repo_type="dataset")
    api.create_commit("me/project", [CommitOperationAdd("train.py", b"print('mine')\n")],
                      repo_type="dataset", commit_message="my code")
    head = dict(hf.repos["me/project"].branches)
    src = make_dataset(tmp_path / "src")
    assert_one_line_error(cli("push", str(src), "--repo", "me/project"), "holds no Arena dataset")
    assert hf.repos["me/project"].branches == head and not hf.repos["me/project"].tags
    assert not hub.home_registry().exists()
    hub.push(src, "me/project", force=True)  # asked for
    assert fmt.MANIFEST_NAME in api.list_repo_files("me/project", repo_type="dataset")


@pytest.mark.parametrize("name", ["data/.train.safetensors", "data/train.safetensors.incomplete"])
def test_a_push_publishes_every_listed_file_whatever_its_name(name, tmp_path, hf):
    src = make_dataset(tmp_path / "src")
    rename_listed(src, SHARD, name)
    remote = tmp_path / "remote"
    hub.push(src, remote.as_uri())
    assert listed(hub.download(remote.as_uri())) == listed(src)
    hub.push(src, "me/tiny")
    assert listed(hub.download("hf://datasets/me/tiny@v1.0.0")) == listed(src)


# --------------------------------------------------------------------------------------------
# Downloads read what the manifest lists, no more, and trust no changed copy


def bytes_read() -> int:
    """What this process has read so far, from any file (Linux's ``rchar``)."""
    text = Path("/proc/self/io").read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts reads with Linux's /proc/self/io")
def test_a_remote_file_longer_than_listed_is_refused_after_its_listed_size(tmp_path, home):
    remote = make_dataset(tmp_path / "remote")
    listed_bytes = (remote / SHARD).stat().st_size
    os.truncate(remote / SHARD, 256 * 2**20)  # sparse: 256 MiB to read, none on disk
    before = bytes_read()
    with pytest.raises(SizeMismatchError, match=f"holds more than the {listed_bytes} bytes"):
        hub.download(remote.as_uri())
    assert bytes_read() - before < 16 * 2**20  # never the 256 MiB (twice) the remote offered
    assert not [p for p in (home / "hub" / "url").rglob("*") if p.is_file() and "train" in p.name]


def test_a_cached_url_manifest_changed_after_download_is_repaired_online_and_refused_offline(tmp_path, monkeypatch):
    src = make_dataset(tmp_path / "src")
    url = src.as_uri()
    root = hub.download(url)
    data = json.loads((root / fmt.MANIFEST_NAME).read_text())
    data["license"] = "changed-in-the-cache"
    (root / fmt.MANIFEST_NAME).write_text(json.dumps(data))
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    with pytest.raises(ChecksumError, match="it was changed since"):
        hub.download(url)
    assert_one_line_error(cli("download", url), "it was changed since")
    monkeypatch.delenv("ARENA_OFFLINE")
    assert hub.download(url) == root
    assert listed(root) == listed(src)


def test_a_remote_manifest_listing_a_name_with_a_newline_is_refused_before_anything_is_written(tmp_path, home):
    remote = make_dataset(tmp_path / "remote")
    rename_listed(remote, SHARD, "data/tr\nain.safetensors")
    with pytest.raises(UnsafePathError, match=r"'data/tr\\nain.safetensors'"):
        hub.download(remote.as_uri())
    assert not (home / "hub" / "url").exists() or not [p for p in (home / "hub" / "url").rglob("*") if p.is_file()]
    assert_one_line_error(cli("download", remote.as_uri()), "holds a control character")
    assert_one_line_error(cli("push", str(remote), "--repo", (tmp_path / "copy").as_uri()),
                          "holds a control character")
    assert not (tmp_path / "copy").exists()


@pytest.mark.parametrize("name", ["data/a\nb.safetensors", "data/a\x85b.safetensors", "data/a\u2028b.safetensors"])
def test_a_listed_path_with_any_line_break_is_refused(name):
    with pytest.raises(UnsafePathError, match="holds a control character"):
        check_relpath(name, "arena.json")


def test_a_local_dataset_listing_a_name_with_a_newline_is_refused_in_one_line(tmp_path):
    root = make_dataset(tmp_path / "ds")
    rename_listed(root, SHARD, "data/tr\nain.safetensors")
    with pytest.raises(UnsafePathError, match="holds a control character"):
        fmt.open_dataset(root)
    result = cli("verify", str(root))
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "'data/tr\\nain.safetensors'" in lines[0], result.output


def test_an_empty_version_is_refused_not_read_as_the_default():
    for call in (hub.resolve, hub.download, hub.locate):
        with pytest.raises(ConfigError, match="The version asked for is ''"):
            call("neural_mnist", version="")
    assert_one_line_error(cli("download", "neural_mnist", "--version", ""), "The version asked for is ''")
