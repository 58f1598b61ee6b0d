"""Hostile and careless input to the store, subset, push, download and import (issue 19).

Each case ends in one clear error and leaves every file where it was: the tables below run the
same command over many bad inputs and compare the whole temporary tree before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _nefdata import write_dataset
from typer.testing import CliRunner

import arena
from arena import format as fmt
from arena import hub
from arena import subset as subset_module
from arena.errors import ConfigError, UnsafePathError
from arena.hub._registry import Release, record
from arena.layout import Layout

LAYOUT = Layout([("layers.0.weight", (2, 3)), ("layers.0.bias", (3,))])
NAME = "neural_test"
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # in huggingface_hub


def make_dataset(root: Path, *, name: str = NAME) -> Path:
    """A small valid dataset (train 9, val 6, test 7) without JAX."""
    rng = np.random.default_rng(0)
    params = {s: [rng.standard_normal((n, LAYOUT.num_params)).astype(np.float32)]
              for s, n in (("train", 9), ("val", 6), ("test", 7))}
    return write_dataset(root, params, layout=LAYOUT, name=name)


def tree(root: Path) -> dict[str, object]:
    """Every file (its bytes), directory and link under ``root``, links not followed."""
    out: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


def cli(*args: str):
    from arena.cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert fragment in result.output, result.output


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch) -> Path:
    """A fresh store at ``<tmp>/store/home``; the working directory is ``<tmp>/cwd``; the Hub
    endpoint is a closed port, so nothing leaves 127.0.0.1."""
    for var in ("ARENA_REGISTRY", "ARENA_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "store" / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_TOKEN", "test-token")
    point_hub_at("http://127.0.0.1:9", monkeypatch)
    return home


def point_hub_at(endpoint: str, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")


# --------------------------------------------------------------------------------------------
# Defect 1: `arena subset --out DIR` never removes what it did not create


@pytest.fixture
def parent(tmp_path, store) -> Path:
    """``neural_test`` in a directory of its own, and another dataset in the store."""
    make_dataset(hub.local_path("neural_other", "1.0.0"), name="neural_other")
    return make_dataset(tmp_path / "data" / NAME)


def _user_dir(tmp_path: Path, parent: Path) -> Path:
    out = tmp_path / "important"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("years of work")
    (out / "sub" / "data.csv").write_text("1,2,3")
    return out


def _link_to_user_dir(tmp_path: Path, parent: Path) -> Path:
    link = tmp_path / "link"
    link.symlink_to(_user_dir(tmp_path, parent), target_is_directory=True)
    return link


def _copy_of_parent(tmp_path: Path, parent: Path) -> Path:
    return make_dataset(tmp_path / "copy")  # a dataset, but named neural_test, not neural_test_subset


def _subset_plus_user_file(tmp_path: Path, parent: Path) -> Path:
    out = subset_module.subset(parent, {"train": 3}, out=tmp_path / "mine")
    (out / "notes.txt").write_text("mine")
    return out


def _a_file(tmp_path: Path, parent: Path) -> Path:
    (tmp_path / "file.txt").write_text("not a directory")
    return tmp_path / "file.txt"


SUBSET_OUT_CASES = {
    # id: (the --out it gets, extra arguments, what the one line says)
    "user-dir": (_user_dir, [], "holds files that are not a dataset"),
    "user-dir-force": (_user_dir, ["--force"], "holds files that are not a dataset"),
    "link-to-user-dir-force": (_link_to_user_dir, ["--force"], "holds files that are not a dataset"),
    "store-root": (lambda t, p: t / "store" / "home", [], "is the local store"),
    "store-root-force": (lambda t, p: t / "store" / "home", ["--force"], "is the local store"),
    "above-store-root": (lambda t, p: t / "store", ["--force"], "holds the local store"),
    "the-parent": (lambda t, p: p, ["--force"], "is the dataset the subset is drawn from"),
    "inside-the-parent": (lambda t, p: p / "data", ["--force"], "lies inside the dataset"),
    "new-dir-inside-the-parent": (lambda t, p: p / "sub", [], "lies inside the dataset"),
    "above-the-parent": (lambda t, p: p.parent, ["--force"], "holds the dataset"),
    "another-dataset-force": (_copy_of_parent, ["--force"], "holds a dataset named 'neural_test', not"),
    "subset-plus-user-file-force": (_subset_plus_user_file, ["--force"], "also 'notes.txt'"),
    "a-file": (_a_file, ["--force"], "is not a directory"),
}


@pytest.mark.parametrize("case", SUBSET_OUT_CASES)
def test_subset_refuses_an_out_it_cannot_own_and_changes_nothing(case, tmp_path, parent):
    make_out, extra, fragment = SUBSET_OUT_CASES[case]
    out = make_out(tmp_path, parent)
    before = tree(tmp_path)
    result = cli("subset", str(parent), "--train", "4", "--out", str(out), *extra)
    assert_one_line_error(result, fragment)
    assert tree(tmp_path) == before


def _empty_dir(tmp_path: Path, parent: Path) -> Path:
    (tmp_path / "mine").mkdir()
    return tmp_path / "mine"


def _old_subset(tmp_path: Path, parent: Path) -> Path:
    return subset_module.subset(parent, {"train": 3}, out=tmp_path / "mine")


@pytest.mark.parametrize("make_out", [_empty_dir, _old_subset], ids=["empty-dir", "old-subset"])
def test_subset_replaces_an_out_only_once_the_new_one_is_complete(make_out, tmp_path, parent, monkeypatch):
    out = make_out(tmp_path, parent)
    before = tree(tmp_path)
    real = os.replace

    def failing_replace(src, dst):  # the last rename: the whole directory, or its manifest
        if ".partial-" in str(src) and Path(dst) in (out, out / fmt.MANIFEST_NAME):
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    with monkeypatch.context() as m:
        m.setattr(subset_module.os, "replace", failing_replace)
        with pytest.raises(OSError, match="No space left"):
            subset_module.subset(parent, {"train": 5}, out=out, force=True)
    assert tree(tmp_path) == before  # what was there is back, no temporary directory is left
    inode = out.stat().st_ino
    subset_module.subset(parent, {"train": 5}, out=out, force=True)
    assert fmt.verify(out) == [] and fmt.open_dataset(out).manifest.num_examples("train") == 5
    assert [n for n in os.listdir(out.parent) if "mine" in n] == ["mine"]  # nothing set aside is left
    if make_out is _empty_dir:
        assert out.stat().st_ino == inode  # the user's directory was filled, not replaced


# --------------------------------------------------------------------------------------------
# Defect 3: paths derived from names stay inside their root


BAD_PARTS = ["../../evil", "..", ".", "", "/etc", "a/b", "a\\b", "x\ny"]


@pytest.mark.parametrize("part", BAD_PARTS)
def test_paths_derived_from_names_cannot_leave_their_root(part, tmp_path):
    with pytest.raises(UnsafePathError, match="not one plain name"):
        hub.path_inside(tmp_path, part)
    with pytest.raises(UnsafePathError):
        hub.local_path(part, "1.0.0")
    with pytest.raises(UnsafePathError):
        hub.local_path(NAME, part)
    assert hub.path_inside(tmp_path, "neural_x", "1.0.0+custom.3f") == tmp_path / "neural_x" / "1.0.0+custom.3f"


@pytest.mark.parametrize("evil", ["../../evil", "ABSOLUTE"])
def test_subset_of_a_dataset_with_a_path_for_a_name_writes_nothing(evil, tmp_path, store):
    root = make_dataset(tmp_path / "data" / "ds")
    evil = str(tmp_path / "abs" / "evil") if evil == "ABSOLUTE" else evil
    manifest = json.loads((root / fmt.MANIFEST_NAME).read_text())
    manifest["name"] = evil
    (root / fmt.MANIFEST_NAME).write_text(json.dumps(manifest))
    before = tree(tmp_path)
    result = cli("subset", str(root), "--train", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0, result.output
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------------------------
# Defect 2: push targets are checked; a refused or failed push never touches the registry


RECORDED = Release(NAME, "1.0.0", "me/neural_test", "a" * 40, "b" * 64, {"train": 9, "val": 6, "test": 7})

PUSH_TARGETS = {
    "s3://": "does not name a bucket and a path",
    "s3:///path": "does not name a bucket and a path",
    "s3://bucket": "does not name a bucket and a path",
    "s3://bucket//path": "does not name a bucket and a path",
    "s3://bucket/../path": "does not name a bucket and a path",
    "gcs://": "does not name a bucket and a path",
    "gs://": "does not name a bucket and a path",
    "memory://bucket/tiny": "only inside this Python process",
    "nosuch://bucket/tiny": "which fsspec does not know",
    "simplecache::s3://bucket/tiny": "which fsspec does not know",
    "https://example.org/tiny": "is read-only in fsspec",
    "file://relative/tiny": "is not an absolute path",
    "file:///": "does not name a directory",
    "s3://bucket/ti\nny": "control character",
    "file://SRC": "would overwrite it",  # SRC: the dataset being pushed, TMP: a folder holding it
    "file://SRC/copy": "would overwrite it",
    "file://TMP": "would overwrite it",
}


@pytest.mark.parametrize("target", PUSH_TARGETS)
def test_push_to_a_bad_url_is_refused_and_leaves_the_registry_and_cwd_alone(target, tmp_path, store):
    src = make_dataset(tmp_path / "src")
    record(RECORDED, description="the recorded release")
    registry_bytes = hub.home_registry().read_bytes()
    before = tree(tmp_path)
    result = cli("push", str(src), "--repo", target.replace("SRC", str(src)).replace("TMP", str(tmp_path)))
    assert_one_line_error(result, PUSH_TARGETS[target])
    assert tree(tmp_path) == before
    assert hub.home_registry().read_bytes() == registry_bytes
    assert hub.registry()[NAME].release("1.0.0") == RECORDED
    assert os.listdir(tmp_path / "cwd") == []


def test_push_is_recorded_only_once_the_manifest_reads_back(tmp_path, store, monkeypatch):
    from arena.hub import _remote

    src = make_dataset(tmp_path / "src")
    record(RECORDED)
    registry_bytes = hub.home_registry().read_bytes()
    target = (tmp_path / "remote" / "tiny").as_uri()
    with monkeypatch.context() as m:
        m.setattr(_remote, "push", lambda root, url, **kwargs: url)  # a store that drops writes
        with pytest.raises(hub.DatasetNotFoundError, match="the pushed manifest"):
            hub.push(src, target)
    assert hub.home_registry().read_bytes() == registry_bytes
    assert hub.push(src, target) == target  # a real push to a real place is recorded
    assert hub.registry()[NAME].release("1.0.0").repo == target
    assert fmt.verify(tmp_path / "remote" / "tiny") == []


# --------------------------------------------------------------------------------------------
# A name resolves only to a manifest that carries it


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _overlay(tmp_path: Path, monkeypatch, release: dict) -> None:
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {"neural_mnist": {
        "version": "1.0.0", "releases": {"1.0.0": release}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))


def _url_release(tmp_path, monkeypatch):
    digits = make_dataset(tmp_path / "remote" / "digits", name="neural_digits")
    _overlay(tmp_path, monkeypatch, {"repo": digits.as_uri(), "manifest_sha256": _sha(digits / fmt.MANIFEST_NAME)})


@pytest.fixture
def hf(monkeypatch):
    """The Hub stand-in of tests/hubserver.py, which huggingface_hub now talks to."""
    from hubserver import HubServer

    with HubServer() as server:
        point_hub_at(server.endpoint, monkeypatch)
        yield server


def _hub_release(tmp_path, monkeypatch):
    digits = make_dataset(tmp_path / "digits", name="neural_digits")
    commit = hub.push(digits, "me/digits")
    _overlay(tmp_path, monkeypatch, {"repo": "me/digits", "commit": commit,
                                     "manifest_sha256": _sha(digits / fmt.MANIFEST_NAME)})


def _store_copy(tmp_path, monkeypatch):
    make_dataset(hub.local_path("neural_mnist", "1.0.0"), name="neural_digits")


NAME_MISMATCHES = {"url-release": _url_release, "hub-release": _hub_release, "store-directory": _store_copy}


@pytest.mark.parametrize("where", NAME_MISMATCHES)
def test_a_name_never_resolves_to_another_datasets_manifest(where, tmp_path, monkeypatch, request):
    if where == "hub-release":
        request.getfixturevalue("hf")
    NAME_MISMATCHES[where](tmp_path, monkeypatch)
    for call in (hub.resolve, hub.info, arena.load):
        with pytest.raises(hub.RegistryError, match="holds dataset 'neural_digits'.*not the requested neural_mnist"):
            call("neural_mnist")
    assert_one_line_error(cli("info", "neural_mnist"), "not the requested neural_mnist")


# --------------------------------------------------------------------------------------------
# Revisions, registry locations, downloads


BAD_REVISIONS = ["v1.0.0\nmain", "v1 0", "..", "x~1", "a:b", "a@{1}", "v1.lock", ".hidden"]


@pytest.mark.parametrize("revision", BAD_REVISIONS)
def test_a_revision_git_cannot_hold_is_named_before_any_request(revision):
    for call in (hub.resolve, hub.download, hub.info):
        with pytest.raises(ConfigError, match="is not a valid revision") as err:
            call(f"hf://datasets/me/tiny@{revision}")
        assert repr(revision) in str(err.value)


def test_cli_names_a_revision_or_version_with_a_newline():
    assert_one_line_error(cli("download", "hf://datasets/me/tiny@v1.0.0\nmain"), "'v1.0.0\\nmain'")
    assert_one_line_error(cli("download", "hf://datasets/me/tiny", "--version", "1.0.0\nmain"),
                          "'v1.0.0\\nmain'")


def test_a_registry_url_is_refused_in_one_line_without_fetching_it(monkeypatch):
    from hubserver import HubServer

    with HubServer() as server:
        url = f"{server.endpoint}/registry.json"
        monkeypatch.setenv("ARENA_REGISTRY", url)
        with pytest.raises(hub.RegistryError, match="ARENA_REGISTRY must be the path of a local registry file"):
            hub.registry()
        assert_one_line_error(cli("list"), "local registry file")
        assert not server.requests  # a URL is never fetched


def test_download_verify_rehashes_what_the_cache_trusts(tmp_path, monkeypatch):
    src = make_dataset(tmp_path / "src")
    url = src.as_uri()
    root = hub.download(url)
    shard = root / fmt.open_dataset(root).manifest.files("train")[0].path
    st = shard.stat()
    with open(shard, "r+b") as f:  # same size, inode and mtime: only a re-hash can tell
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hub.download(url) == root  # trusted by size, mtime and inode, as the help says
    help_text = cli("download", "--help").output
    assert "--verify" in help_text and "mtime" in help_text
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    assert_one_line_error(cli("download", url, "--verify"), shard.name)
    monkeypatch.delenv("ARENA_OFFLINE")
    result = cli("download", url, "--verify")
    assert result.exit_code == 0, result.output
    assert fmt.verify(root) == [] and shard.read_bytes() == (src / shard.relative_to(root)).read_bytes()


# --------------------------------------------------------------------------------------------
# Imports never take an official release's identity


def _write_fitanef_mnist(folder: Path, n: int = 12) -> None:
    """``n`` SIRENs as fit-a-nef writes them, from a run whose cfg.json names MNIST."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    shapes = [("kernel_net_0.linear.bias", [4]), ("kernel_net_0.linear.kernel", [2, 4]),
              ("kernel_net_1.linear.bias", [4]), ("kernel_net_1.linear.kernel", [4, 4]),
              ("output_linear.bias", [1]), ("output_linear.kernel", [4, 1])]
    size = sum(int(np.prod(s)) for _, s in shapes)
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps({"dataset": {"name": "MNIST"}}))
    (folder / "nef.json").write_text(json.dumps(
        {"name": "SIREN", "params": {"hidden_dim": 4, "num_layers": 3, "omega_0": 30.0, "output_dim": 1}}))
    with h5py.File(folder / f"nefs_0-{n}.hdf5", "w") as f:
        f.create_dataset("params", data=rng.standard_normal((n, size)).astype(np.float32))
        config = f.create_dataset("param_config", (1,), dtype=h5py.special_dtype(vlen=str))
        config[0] = json.dumps(shapes)
        f.create_dataset("labels", data=np.arange(n) % 10)


def test_an_import_never_takes_the_official_release_identity(tmp_path):
    _write_fitanef_mnist(tmp_path / "fitanef")
    result = cli("import-hdf5", str(tmp_path / "fitanef"))
    assert result.exit_code == 0, result.output
    assert hub.local_versions("neural_mnist") != ["1.0.0"]
    (version,) = hub.local_versions("neural_mnist")
    assert version.startswith("1.0.0+import.")
    with pytest.warns(UserWarning, match=r"neural_mnist 1\.0\.0\+import\..*not a published release"):
        arena.load("neural_mnist", split="train")
    info = cli("info", "neural_mnist")
    assert info.exit_code == 0, info.output
    assert "70,000" not in info.output and "not the registry's release" in info.output
    rows = {tuple(c.strip() for c in line.split("│")[1:3]): line for line in cli("list").output.splitlines()
            if "neural_mnist" in line}
    assert rows[("neural_mnist", "1.0.0")].rstrip(" │").endswith("-")  # the official one is not here
    assert "built" in rows[("neural_mnist", version)]


# --------------------------------------------------------------------------------------------
# Two builds of one dataset directory at once


_PAUSED_BUILD = """
import sys, time
from pathlib import Path
import arena.fit
from arena_builders import build

go, started = Path(sys.argv[1]), Path(sys.argv[2])
real = arena.fit.fit

def paused(*args, **kwargs):
    started.touch()
    while not go.exists():
        time.sleep(0.05)
    return real(*args, **kwargs)

arena.fit.fit = paused
print(build("digits", limit=3, overrides={"steps": "2"}, progress=False))
"""


@pytest.mark.slow
def test_a_second_build_of_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    from arena.cli.build import app

    go, started = tmp_path / "go", tmp_path / "started"
    first = subprocess.Popen([sys.executable, "-c", _PAUSED_BUILD, str(go), str(started)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        deadline = time.monotonic() + 300
        while not started.exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        second = CliRunner().invoke(app, ["digits", "--limit", "3", "--set", "steps=2", "--quiet"])
        assert_one_line_error(second, "Another arena-build is writing")
        go.touch()
        out, err = first.communicate(timeout=300)
    finally:
        go.touch()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    root = Path(out.strip().splitlines()[-1])
    assert str(root) in second.output.replace("\n", "")
    assert fmt.verify(root) == []
