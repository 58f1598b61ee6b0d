"""Dataset stores over the network: a Hugging Face Hub stand-in and an S3 server on 127.0.0.1.

The Hub side runs the real huggingface_hub client (create_repo, create_commit with LFS,
create_tag, hf_hub_download, snapshot_download) against ``tests/hubserver.py``; the S3 side
runs the real s3fs client against moto's S3 server. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from arena import format as fmt
from arena import hub
from arena.errors import ChecksumError, ConfigError
from arena.layout import Layout

from hubserver import HubServer

LAYOUT = Layout([("layers.0.weight", (2, 3)), ("layers.0.bias", (3,))])
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # in huggingface_hub

NAME = "neural_tiny"
SHARD = "data/train-00000-of-00001.safetensors"


def make_dataset(root: Path, *, version: str = "1.0.0", seed: int = 0, rows: int = 6,
                 train_shards: int = 1, name: str = NAME) -> Path:
    """A small valid dataset: init, train (in ``train_shards`` shards) and test, with a card."""
    rng = np.random.default_rng(seed)
    fmt.write_init(root / fmt.INIT_NAME, rng.standard_normal(LAYOUT.num_params).astype(np.float32))
    splits, start = {}, 0
    for split, count, n in (("train", train_shards, rows), ("test", 1, 3)):
        paths = [fmt.shard_name(split, i, count) for i in range(count)]
        for p in paths:  # distinct source indices across shards and splits
            params = rng.standard_normal((n, LAYOUT.num_params)).astype(np.float32)
            fmt.write_shard(root / p, params, np.arange(n) % 10, np.arange(start, start + n))
            start += n
        splits[split] = fmt.split_entry(root, paths)
    fmt.Manifest({
        "format": "arena/1", "name": name, "version": version,
        "source": {"name": "test", "num_classes": 10}, "signal": {"kind": "image", "shape": [2, 2, 1]},
        "field": {"arch": "siren", "layout": LAYOUT.to_json(), "kernel": "in_out",
                  "num_params": LAYOUT.num_params},
        "fit": {"loss": "mse", "steps": 1}, "splits": splits, "builder": {"name": "test", "version": "0"},
        "init": fmt.file_entry(root, fmt.INIT_NAME),
    }).write(root)
    (root / "README.md").write_text(f"---\nlicense: mit\n---\n# {name} {version}\n")
    return root


def listed(root: Path) -> dict[str, bytes]:
    """The manifest and every file it lists, with their bytes."""
    files = fmt.open_dataset(root)
    paths = [fmt.MANIFEST_NAME] + [e.path for e in files.manifest.all_files()]
    return {p: (root / p).read_bytes() for p in paths}


def flip_last_byte(path: Path) -> None:
    path = path.resolve()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A fresh store per test; no offline flag, no extra registry, Xet off (the stand-in has none)."""
    for var in ("ARENA_REGISTRY", "ARENA_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # for spawned processes
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_TOKEN", "test-token")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    point_huggingface_hub_at("http://127.0.0.1:9", monkeypatch)  # a closed port: nothing leaves
    return tmp_path / "home"


def point_huggingface_hub_at(endpoint: str, monkeypatch) -> None:
    """What HF_ENDPOINT set before huggingface_hub's import does (it reads it once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")


@pytest.fixture
def hf(monkeypatch):
    """The Hub stand-in; HF_ENDPOINT and huggingface_hub's own default both point at it."""
    with HubServer() as server:
        point_huggingface_hub_at(server.endpoint, monkeypatch)
        yield server


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, request):
    """A fresh bucket on the module's moto server; returns the bucket's s3:// URL."""
    import fsspec

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(key, value)
    bucket = "arena-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    s3fs().mkdir(bucket)
    return f"s3://{bucket}"


def s3fs():
    import fsspec

    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    return fs


# --------------------------------------------------------------------------------------------
# Hugging Face Hub


def test_hub_push_is_one_tagged_commit_and_pulls_back_byte_identical(tmp_path, hf):
    src = make_dataset(tmp_path / "src")
    commit = hub.push(src, "me/tiny")
    repo = hf.repos["me/tiny"]
    assert [m for m, p, _ in hf.requests if p.endswith("/commit/main")] == ["POST"]
    assert repo.tags == {"v1.0.0": commit} and repo.branches["main"] == commit
    assert set(repo.commits[commit]) == {".gitattributes", "README.md", "arena.json", "init.safetensors",
                                         SHARD, "data/test-00000-of-00001.safetensors"}
    assert repo.commits[commit][SHARD].sha256 == sha(src / SHARD)  # went through LFS
    root = hub.resolve("hf://datasets/me/tiny@v1.0.0")
    assert root.name == commit
    assert listed(root) == listed(src)
    assert hub.resolve("hf://me/tiny", version="1.0.0") == root


def test_hub_push_records_the_release_so_the_name_resolves_pinned(tmp_path, hf):
    src = make_dataset(tmp_path / "src")
    commit = hub.push(src, "hf://datasets/me/tiny")
    release = hub.registry()[NAME].release()
    assert (release.repo, release.commit, release.manifest_sha256) == (
        "me/tiny", commit, sha(src / fmt.MANIFEST_NAME))
    assert release.num_examples == {"train": 6, "test": 3}
    root = hub.resolve(NAME)
    assert root.name == commit and listed(root) == listed(src)


def test_hub_second_push_of_a_version_is_refused_unless_forced(tmp_path, hf):
    first = make_dataset(tmp_path / "a")
    second = make_dataset(tmp_path / "b", seed=1, train_shards=2)
    c1 = hub.push(first, "me/tiny")
    with pytest.raises(hub.AlreadyPublishedError, match=r"already has version 1\.0\.0 \(tag v1\.0\.0"):
        hub.push(second, "me/tiny")
    assert hf.repos["me/tiny"].tags["v1.0.0"] == c1
    c2 = hub.push(second, "me/tiny", force=True)
    assert c2 != c1 and hf.repos["me/tiny"].tags["v1.0.0"] == c2
    # the new commit is exactly the new dataset: the old single train shard is deleted
    assert SHARD not in hf.repos["me/tiny"].commits[c2]
    assert listed(hub.resolve("hf://datasets/me/tiny@v1.0.0")) == listed(second)


def test_version_with_build_metadata_gets_a_valid_tag(tmp_path, hf):
    assert hub.version_tag("1.0.0+custom.3f2a") == "v1.0.0_custom.3f2a"
    src = make_dataset(tmp_path / "src", version="1.0.0+custom.3f2a")
    commit = hub.push(src, "me/tiny")
    assert hf.repos["me/tiny"].tags == {"v1.0.0_custom.3f2a": commit}
    assert hub.resolve("hf://datasets/me/tiny", version="1.0.0+custom.3f2a").name == commit


def test_interrupted_download_resumes_with_a_range_request(tmp_path, hf, monkeypatch):
    from huggingface_hub import constants

    src = make_dataset(tmp_path / "src", rows=2000)  # a shard of ~56 kB
    hub.push(src, "me/tiny")
    size = (src / SHARD).stat().st_size
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 8192)
    hf.drop_once(SHARD, after=size // 2)
    root = hub.resolve("hf://datasets/me/tiny@v1.0.0")
    assert (root / SHARD).read_bytes() == (src / SHARD).read_bytes()
    ranges = [r for m, p, r in hf.requests if m == "GET" and p.endswith(SHARD)]
    assert ranges[0] is None and len(ranges) == 2
    start = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= size // 2  # it kept what it had and asked only for the rest


def test_corrupt_file_served_by_the_hub_is_named_and_not_cached(tmp_path, hf):
    src = make_dataset(tmp_path / "src")
    hub.push(src, "me/tiny")
    hf.corrupt(SHARD)
    with pytest.raises(ChecksumError, match=SHARD) as err:
        hub.resolve("hf://datasets/me/tiny@v1.0.0")
    assert "damaged" in str(err.value)
    snapshot = hub.home() / "hub" / "hf" / "datasets--me--tiny" / "snapshots"
    assert not any(snapshot.glob(f"*/{SHARD}"))  # the bad copy was evicted


def test_corrupt_file_in_the_cache_is_named_offline_and_repaired_online(tmp_path, hf, monkeypatch):
    src = make_dataset(tmp_path / "src")
    hub.push(src, "me/tiny")
    root = hub.resolve(NAME)
    flip_last_byte(root / SHARD)
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    with pytest.raises(ChecksumError, match=SHARD):
        hub.resolve(NAME)
    monkeypatch.delenv("ARENA_OFFLINE")
    assert listed(hub.resolve(NAME)) == listed(src)


@pytest.mark.parametrize("flag", ["ARENA_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_with_a_warm_cache_needs_no_server(tmp_path, flag, monkeypatch):
    src = make_dataset(tmp_path / "src")
    with HubServer() as server:
        point_huggingface_hub_at(server.endpoint, monkeypatch)
        commit = hub.push(src, "me/tiny")
        hub.download(NAME)  # pinned to the commit: the cache learns no tag
        hub.download("hf://datasets/me/tiny@v1.0.0")  # now it knows the tag too
    monkeypatch.setenv(flag, "1")  # the server is gone: any request would fail
    assert listed(hub.resolve(NAME)) == listed(src)
    assert listed(hub.resolve(f"hf://datasets/me/tiny@{commit}")) == listed(src)
    assert hub.resolve("hf://datasets/me/tiny@v1.0.0").name == commit


def test_offline_with_a_cold_cache_says_how_to_fix_it(tmp_path, hf, monkeypatch):
    hub.push(make_dataset(tmp_path / "src"), "me/tiny")
    (hub.home() / "hub").rename(tmp_path / "moved")  # the cache is cold, the registry knows it
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    seen = len(hf.requests)
    with pytest.raises(hub.OfflineError) as err:
        hub.resolve(NAME)
    message = str(err.value)
    assert "offline mode is on" in message
    assert f"arena download {NAME}" in message and f"arena-build {NAME}" in message
    assert len(hf.requests) == seen  # offline means no request at all


def _resolve_in_another_process(ref: str) -> tuple[str, dict[str, str]]:
    root = hub.resolve(ref)
    return str(root), {p: hashlib.sha256(b).hexdigest() for p, b in listed(root).items()}


@pytest.mark.slow
def test_two_processes_resolving_at_once_share_one_consistent_cache(tmp_path, hf):
    src = make_dataset(tmp_path / "src", rows=3000)
    hub.push(src, "me/tiny")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_resolve_in_another_process, [NAME, NAME])
    expected = {p: hashlib.sha256(b).hexdigest() for p, b in listed(src).items()}
    assert results[0] == results[1] and results[0][1] == expected
    root = Path(results[0][0])
    assert fmt.verify(root) == []
    storage = hub.home() / "hub" / "hf" / "datasets--me--tiny"
    assert not list(storage.rglob("*.incomplete"))
    blobs = sorted(p.name for p in (storage / "blobs").iterdir())
    assert len(blobs) == len(expected)  # each file downloaded into exactly one blob


def test_registry_pins_the_commit_not_the_moving_tag(tmp_path, hf, monkeypatch):
    first, second = make_dataset(tmp_path / "a"), make_dataset(tmp_path / "b", seed=1)
    c1 = hub.push(first, "me/tiny")
    hub.push(second, "me/tiny", force=True)  # the tag and <home>/registry.json now say c2
    overlay = tmp_path / "registry.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {NAME: {"releases": {
        "1.0.0": {"repo": "me/tiny", "commit": c1, "manifest_sha256": sha(first / fmt.MANIFEST_NAME)}}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))
    root = hub.resolve(NAME)
    assert root.name == c1 and listed(root) == listed(first)


def test_registry_rejects_a_manifest_with_another_sha256(tmp_path, hf, monkeypatch):
    src = make_dataset(tmp_path / "src")
    commit = hub.push(src, "me/tiny")
    overlay = tmp_path / "registry.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {NAME: {"releases": {
        "1.0.0": {"repo": "me/tiny", "commit": commit, "manifest_sha256": "0" * 64}}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))
    with pytest.raises(ChecksumError, match=r"arena\.json.*registry lists 0{64}"):
        hub.resolve(NAME)
    assert not [p for m, p, _ in hf.requests if m == "GET" and p.endswith(".safetensors")]


def test_push_needs_a_token_and_says_so(tmp_path, hf, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token either
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
    with pytest.raises(hub.HubError, match="write token"):
        hub.push(make_dataset(tmp_path / "src"), "me/tiny")


def test_unknown_repository_and_revision_are_named(tmp_path, hf):
    with pytest.raises(hub.DatasetNotFoundError, match="no dataset repository 'me/none'"):
        hub.resolve("hf://datasets/me/none")
    hub.push(make_dataset(tmp_path / "src"), "me/tiny")
    with pytest.raises(hub.DatasetNotFoundError, match="no revision 'v9.9.9'"):
        hub.resolve("hf://datasets/me/tiny", version="9.9.9")


# --------------------------------------------------------------------------------------------
# fsspec URLs (S3)


def test_s3_push_then_pull_is_byte_identical_and_registered(tmp_path, s3):
    src = make_dataset(tmp_path / "src")
    url = f"{s3}/tiny/1.0.0"
    assert hub.push(src, url) == url
    remote = sorted(p.split("/tiny/1.0.0/")[1] for p in s3fs().find(url))
    assert remote == ["README.md", "arena.json", "data/test-00000-of-00001.safetensors", SHARD,
                      "init.safetensors"]
    root = hub.resolve(url)
    assert listed(root) == listed(src)
    assert hub.registry()[NAME].release().repo == url
    assert hub.resolve(NAME) == root


def test_s3_second_push_is_refused_unless_forced(tmp_path, s3):
    first, second = make_dataset(tmp_path / "a"), make_dataset(tmp_path / "b", seed=1)
    url = f"{s3}/tiny"
    hub.push(first, url)
    with pytest.raises(hub.AlreadyPublishedError, match=f"{url} already holds {NAME} 1.0.0"):
        hub.push(second, url)
    assert listed(hub.download(url)) == listed(first)
    hub.push(second, url, force=True)
    assert listed(hub.download(url)) == listed(second)


def test_s3_registry_release_refuses_a_dataset_changed_since_it_was_registered(tmp_path, s3, monkeypatch):
    first, second = make_dataset(tmp_path / "a"), make_dataset(tmp_path / "b", seed=1)
    url = f"{s3}/tiny"
    hub.push(first, url)
    hub.push(second, url, force=True)
    overlay = tmp_path / "registry.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {NAME: {"releases": {
        "1.0.0": {"repo": url, "manifest_sha256": sha(first / fmt.MANIFEST_NAME)}}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))
    with pytest.raises(ChecksumError, match="changed since it was registered"):
        hub.resolve(NAME)


def test_s3_interrupted_push_never_leaves_a_dataset(tmp_path, s3, monkeypatch):
    from arena.hub import _remote

    url = f"{s3}/tiny"
    hub.push(make_dataset(tmp_path / "a"), url)
    real_put, calls = _remote._put, []

    def failing_put(fs, local, remote):
        calls.append(remote)
        if len(calls) == 2:
            raise ConnectionError("network down")
        real_put(fs, local, remote)

    monkeypatch.setattr(_remote, "_put", failing_put)
    with pytest.raises(hub.HubError, match="network down"):
        hub.push(make_dataset(tmp_path / "b", seed=1), url, force=True)
    # the old manifest went first, the new one was never written: nothing reads as complete
    assert not s3fs().exists(f"{url}/arena.json")
    with pytest.raises(hub.DatasetNotFoundError, match="no arena.json"):
        hub.download(url)


def test_s3_pull_resumes_an_unfinished_pull(tmp_path, s3):
    src = make_dataset(tmp_path / "src", rows=500)
    url = f"{s3}/tiny"
    hub.push(src, url)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    staging = hub.home() / "hub" / "url" / key / (sha(src / fmt.MANIFEST_NAME)[:16] + ".partial")
    (staging / "data").mkdir(parents=True)
    done = staging / "init.safetensors"
    done.write_bytes((src / "init.safetensors").read_bytes())
    half = (src / SHARD).read_bytes()[:5000]
    (staging / (SHARD + ".incomplete")).write_bytes(half)
    before = done.stat().st_ino, done.stat().st_mtime_ns
    root = hub.download(url)
    assert listed(root) == listed(src)
    assert ((root / "init.safetensors").stat().st_ino, (root / "init.safetensors").stat().st_mtime_ns) == before
    assert not staging.exists()


def test_s3_corrupt_object_is_named(tmp_path, s3):
    src = make_dataset(tmp_path / "src")
    url = f"{s3}/tiny"
    hub.push(src, url)
    bad = bytearray((src / SHARD).read_bytes())
    bad[-1] ^= 0xFF
    s3fs().pipe_file(f"{url}/{SHARD}", bytes(bad))
    with pytest.raises(ChecksumError, match=SHARD):
        hub.download(url)


def test_file_url_pull_copies_into_the_cache(tmp_path):
    src = make_dataset(tmp_path / "src")
    root = hub.resolve(src.as_uri())
    assert root != src and hub.home() in root.parents and listed(root) == listed(src)


# --------------------------------------------------------------------------------------------
# Registry and local store


def test_packaged_registry_matches_the_builders():
    from arena_builders import RECIPES

    entries = hub.registry()
    built = {r.name for r in RECIPES.values()}
    assert built <= set(entries)
    for name in set(entries) - built:  # only pinned subsets of built datasets, made by arena subset
        assert name.removesuffix("_subset") in built and name.endswith("_subset")
        release = entries[name].release()
        assert "arena subset" in release.command and release.manifest_sha256 and not release.published
    for recipe in RECIPES.values():
        release = entries[recipe.name].release()
        assert release.version == recipe.version and dict(release.num_examples) == dict(recipe.sizes)
        assert not release.published  # nothing is on huggingface.co yet


def test_packaged_registry_holds_release_pins_only():
    packaged = json.loads((Path(hub.__file__).parents[1] / "registry.json").read_text())
    for name, spec in packaged["datasets"].items():
        assert set(spec) == {"version", "releases"}, name
        for release in spec["releases"].values():
            assert set(release) <= {"repo", "commit", "manifest_sha256", "command"}, name


def test_registry_describes_each_dataset_from_the_catalog():
    from arena import catalog

    entries = hub.registry()
    for name, facts in catalog.DATASETS.items():
        assert entries[name].description == facts.summary
    subset = entries["neural_mnist_subset"]
    assert subset.release().num_examples == {"train": 2000, "val": 500, "test": 1000}  # from its version
    assert subset.description.startswith("Neural MNIST subset: A seeded sample of Neural MNIST")
    assert "2,000 / 500 / 1,000 NeFs of its train / val / test splits" in subset.description


def test_registry_sizes_of_a_custom_version_are_not_the_catalogs(tmp_path, monkeypatch):
    overlay = tmp_path / "registry.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {"neural_mnist": {
        "releases": {"1.0.0+custom.abc": {"repo": "me/mnist"}}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))
    entry = hub.registry()["neural_mnist"]
    assert entry.release("1.0.0+custom.abc").num_examples is None  # a custom build may have other sizes
    assert dict(entry.release("1.0.0").num_examples) == {"train": 55000, "val": 5000, "test": 10000}


def test_registry_env_is_a_local_file_path_never_a_url(monkeypatch):
    monkeypatch.setenv("ARENA_REGISTRY", "https://example.org/registry.json")
    with pytest.raises(hub.RegistryError, match="must be the path of a local registry file.*'https://example.org"):
        hub.registry()
    result = run("list")
    assert result.exit_code == 1 and "local registry file" in result.output and "Traceback" not in result.output


def test_cli_info_of_a_registry_dataset_not_here_shows_its_description_and_split_sizes():
    result = run("info", "neural_mnist")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Neural MNIST: 70,000 SIRENs, one per MNIST digit" in text
    assert "train 55,000 · val 5,000 · test 10,000 NeFs (the registry's release" in text


def test_unpublished_dataset_says_how_to_build_it():
    with pytest.raises(hub.NotPublishedError, match="arena-build neural_digits"):
        hub.download("neural_digits")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(hub.DatasetNotFoundError, match="Did you mean 'neural_mnist'.*neural_digits"):
        hub.resolve("neural_mnsit")


def test_local_build_is_preferred_registry_version_first_else_highest(tmp_path, monkeypatch):
    for version in ("1.0.0", "1.2.0", "1.10.0"):
        make_dataset(hub.local_path(NAME, version), version=version)
    assert hub.resolve(NAME) == hub.local_path(NAME, "1.10.0")  # not in the registry: highest
    overlay = tmp_path / "registry.json"
    overlay.write_text(json.dumps({"format": "arena-registry/1", "datasets": {NAME: {
        "version": "1.2.0", "releases": {"1.2.0": {"repo": "me/tiny"}}}}}))
    monkeypatch.setenv("ARENA_REGISTRY", str(overlay))
    assert hub.resolve(NAME) == hub.local_path(NAME, "1.2.0")
    assert hub.resolve(NAME, version="1.0.0") == hub.local_path(NAME, "1.0.0")
    with pytest.raises(hub.DatasetNotFoundError, match="holds version 1.0.0, not the requested 2.0.0"):
        hub.resolve(str(hub.local_path(NAME, "1.0.0")), version="2.0.0")


def test_bad_references_and_registries_are_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not a Hugging Face repository id"):
        hub.push(make_dataset(tmp_path / "src"), "not a repo")
    with pytest.raises(hub.DatasetNotFoundError, match="No dataset directory at ./missing/dir"):
        hub.resolve("./missing/dir")
    monkeypatch.setenv("ARENA_REGISTRY", str(tmp_path / "nope.json"))
    with pytest.raises(hub.RegistryError, match="nope.json, which does not exist"):
        hub.registry()


# --------------------------------------------------------------------------------------------
# Command lines


def run(*args: str):
    from arena.cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_list_shows_releases_and_what_is_here(tmp_path, hf, monkeypatch):
    commit = hub.push(make_dataset(tmp_path / "src"), "me/tiny")
    make_dataset(hub.local_path("neural_digits", "1.0.0"), name="neural_digits")
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert f"hf://datasets/me/tiny@{commit}" in lines[NAME]
    assert "not published" in lines["neural_digits"] and "built" in lines["neural_digits"]
    monkeypatch.setenv("ARENA_REGISTRY", str(tmp_path / "nope.json"))
    bad = run("list")
    assert bad.exit_code == 1 and "does not exist" in bad.output and "Traceback" not in bad.output


def test_cli_info_summarises_the_manifest(tmp_path):
    make_dataset(hub.local_path(NAME, "1.0.0"))
    result = run("info", NAME)
    assert result.exit_code == 0, result.output
    for text in ("neural_tiny 1.0.0", "siren", f"P = {LAYOUT.num_params}", "train 6 · test 3",
                 str(hub.local_path(NAME, "1.0.0"))):
        assert text in result.output
    bad = run("info", "neural_mnsit")
    assert bad.exit_code == 1 and "Did you mean 'neural_mnist'" in bad.output


def test_cli_download_fetches_and_refuses_unpublished(tmp_path, hf):
    commit = hub.push(make_dataset(tmp_path / "src"), "me/tiny")
    result = run("download", NAME)
    assert result.exit_code == 0, result.output
    assert "downloaded" in result.output and commit in result.output.replace("\n", "")
    bad = run("download", "neural_digits")
    assert bad.exit_code == 1 and "arena-build neural_digits" in bad.output


def test_cli_push_to_s3_and_refuses_a_bad_repo(tmp_path, s3):
    src = make_dataset(tmp_path / "src")
    result = run("push", str(src), "--repo", f"{s3}/tiny")
    assert result.exit_code == 0, result.output
    assert s3fs().exists(f"{s3}/tiny/arena.json")
    again = run("push", str(src), "--repo", f"{s3}/tiny")
    assert again.exit_code == 1 and "--force" in again.output
    assert run("push", str(src), "--repo", f"{s3}/tiny", "--force").exit_code == 0
    bad = run("push", str(src), "--repo", "not/a/repo")
    assert bad.exit_code == 1 and "not a Hugging Face repository id" in bad.output


def test_cli_verify_names_each_bad_file(tmp_path):
    root = make_dataset(hub.local_path(NAME, "1.0.0"), train_shards=2)
    ok = run("verify", NAME)
    assert ok.exit_code == 0 and "ok" in ok.output
    flip_last_byte(root / "data/train-00000-of-00002.safetensors")
    flip_last_byte(root / "init.safetensors")
    bad = run("verify", str(root))
    assert bad.exit_code == 1
    assert "data/train-00000-of-00002.safetensors" in bad.output and "init.safetensors" in bad.output
    assert "data/train-00001-of-00002.safetensors" not in bad.output
    missing = run("verify", "neural_cifar10")
    assert missing.exit_code == 1 and "not published" in missing.output


def test_cli_build_refuses_a_bad_push_target_before_building():
    from arena.cli.build import app

    result = CliRunner().invoke(app, ["digits", "--limit", "2", "--push", "bad repo"])
    assert result.exit_code == 1 and "not a Hugging Face repository id" in result.output
    assert not hub.local_versions("neural_digits")


def test_cli_build_push_publishes_the_build(tmp_path, s3, monkeypatch):
    import arena_builders

    def fake_build(name, *, out=None, **kwargs):  # the wiring under test, not the fitter
        return make_dataset(hub.local_path(f"neural_{name}", "1.0.0"), name=f"neural_{name}")

    monkeypatch.setattr(arena_builders, "build", fake_build)
    from arena.cli.build import app

    url = f"{s3}/digits"
    result = CliRunner().invoke(app, ["digits", "--quiet", "--push", url])
    assert result.exit_code == 0, result.output
    assert "pushed" in result.output
    assert listed(hub.download(url)) == listed(hub.local_path("neural_digits", "1.0.0"))


def test_hub_module_imports_no_network_library():
    import subprocess
    import sys

    code = ("import sys; import arena.hub; "
            "print(sorted(m for m in ('huggingface_hub', 'fsspec', 's3fs', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip() == "[]"
