"""Downloading sources into the cache: a real HTTP server on 127.0.0.1 serves the real MNIST files.

The server answers Range requests and can be told to drop a connection part way, to answer with
an error status first, or to serve other bytes under a file's name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import re
import shutil
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from _sourcedata import DATA, require

from arena.errors import SourceFormatError, SourceNotFoundError
from arena.sources import SOURCE_DIR_ENV, _download, cifar10, mnist, open_source

MNIST = DATA / "mnist"
TRAIN_IMAGES, TEST_LABELS = "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


class FileServer:
    """Serves ``files`` (name -> path or bytes) under ``/files/``; everything else is a 404."""

    def __init__(self, files: dict[str, Path | bytes]):
        self.files = dict(files)
        self.hits: Counter[str] = Counter()  # requests per file name
        self.sent: Counter[str] = Counter()  # body bytes sent per file name
        self.ranges: list[tuple[str, int]] = []  # (file name, first byte) of each Range request
        self.cut_after: dict[str, int] = {}  # drop the next answer for a file after n bytes
        self.statuses: dict[str, list[tuple[int, dict]]] = {}  # answers to give before the file
        self.ranges_ok = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def url(self, folder: str = "files") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{folder}/"

    def _handler(self):
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                folder, _, name = self.path.lstrip("/").partition("/")
                state.hits[name] += 1
                if folder != "files" or name not in state.files:
                    self.send_error(404)
                    return
                if state.statuses.get(name):
                    status, headers = state.statuses[name].pop(0)
                    self.send_response(status)
                    for key, value in {**headers, "Content-Length": "0"}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    return
                data = state.files[name]
                data = data if isinstance(data, bytes) else data.read_bytes()
                asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                start = int(asked[1]) if asked and state.ranges_ok else 0
                if asked and state.ranges_ok:
                    state.ranges.append((name, start))
                if asked and state.ranges_ok and start >= len(data):
                    self.send_error(416)
                    return
                if asked and state.ranges_ok:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in state.cut_after:
                    body = body[: state.cut_after.pop(name)]
                    self.close_connection = True
                # counted before writing: the client may check the count as soon as it has the bytes
                state.sent[name] += len(body)
                self.wfile.write(body)

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def waits(tmp_path, monkeypatch) -> list[float]:
    """A fresh cache under tmp_path, no source dir, online; the backoff waits are recorded."""
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    for env in (SOURCE_DIR_ENV, *_download.OFFLINE_ENVS, mnist.MIRRORS_ENV, cifar10.URL_ENV):
        monkeypatch.delenv(env, raising=False)
    recorded: list[float] = []
    monkeypatch.setattr(_download, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def server(monkeypatch):
    require("mnist")
    with FileServer({p.name: p for p in MNIST.glob("*.gz")}) as srv:
        monkeypatch.setenv(mnist.MIRRORS_ENV, srv.url())
        yield srv


def cache(name: str = "mnist") -> Path:
    return _download.cache_dir(name)


def remote(name: str) -> _download.RemoteFile:
    return next(r for r in mnist.remote_files() if r.name == name)


# --- MNIST --------------------------------------------------------------------------------------


def test_download_fills_the_cache_with_the_official_files_and_reads_them(server):
    source = open_source("mnist", download=True)
    images, labels, _ = source.load([0, 1, 60_000])
    assert labels.tolist() == [5, 0, 7] and images.shape == (3, 28, 28, 1)
    assert images.dtype == np.uint8 and len(source) == 70_000
    assert source.path == cache()
    assert sorted(p.name for p in cache().iterdir()) == sorted(p.name for p in MNIST.glob("*.gz"))
    assert (cache() / TEST_LABELS).read_bytes() == (MNIST / TEST_LABELS).read_bytes()


def test_a_second_open_reads_the_cache_without_a_request(server):
    open_source("mnist", download=True)
    before = sum(server.hits.values())
    assert before == 4
    assert len(open_source("mnist", download=True)) == 70_000
    assert len(open_source("mnist")) == 70_000  # the cache is found without download=True too
    assert sum(server.hits.values()) == before


def test_an_interrupted_download_resumes_with_a_range_request(server, waits):
    server.cut_after[TRAIN_IMAGES] = 3_000_000
    source = open_source("mnist", download=True)
    assert server.ranges == [(TRAIN_IMAGES, 3_000_000)]
    assert server.sent[TRAIN_IMAGES] == (MNIST / TRAIN_IMAGES).stat().st_size  # not twice
    assert waits == [_download.BACKOFF_S]
    assert source.load([0])[1].tolist() == [5]


def test_a_partial_file_left_by_an_earlier_run_is_continued(server):
    data = (MNIST / TEST_LABELS).read_bytes()
    cache().mkdir(parents=True)
    (cache() / f"{TEST_LABELS}.incomplete").write_bytes(data[:1000])
    path = _download.fetch(remote(TEST_LABELS), cache())
    assert server.ranges == [(TEST_LABELS, 1000)] and server.sent[TEST_LABELS] == len(data) - 1000
    assert path.read_bytes() == data and not (cache() / f"{TEST_LABELS}.incomplete").exists()


def test_a_server_without_range_support_restarts_the_file(server):
    server.ranges_ok = False
    data = (MNIST / TEST_LABELS).read_bytes()
    cache().mkdir(parents=True)
    (cache() / f"{TEST_LABELS}.incomplete").write_bytes(data[:1000])
    assert _download.fetch(remote(TEST_LABELS), cache()).read_bytes() == data
    assert server.sent[TEST_LABELS] == len(data)


def test_a_partial_file_the_server_cannot_continue_is_downloaded_again(server):
    data = (MNIST / TEST_LABELS).read_bytes()
    cache().mkdir(parents=True)
    (cache() / f"{TEST_LABELS}.incomplete").write_bytes(data + b"extra")
    assert _download.fetch(remote(TEST_LABELS), cache()).read_bytes() == data
    assert server.hits[TEST_LABELS] == 2 and server.sent[TEST_LABELS] == len(data)  # 416, 200


def test_a_resumed_file_that_fails_its_check_is_downloaded_again_from_scratch(server):
    data = (MNIST / TEST_LABELS).read_bytes()
    cache().mkdir(parents=True)
    (cache() / f"{TEST_LABELS}.incomplete").write_bytes(b"x" * 1000)  # not the file's start
    assert _download.fetch(remote(TEST_LABELS), cache()).read_bytes() == data
    assert server.sent[TEST_LABELS] == (len(data) - 1000) + len(data)


def test_a_corrupted_download_is_refused_naming_the_file_and_both_digests(server):
    labels = bytearray(gzip.decompress((MNIST / TEST_LABELS).read_bytes()))
    labels[8] = (labels[8] + 1) % 10  # the first test label, a 7, becomes an 8
    server.files[TEST_LABELS] = gzip.compress(bytes(labels))
    with pytest.raises(SourceFormatError) as info:
        open_source("mnist", download=True)
    message = str(info.value)
    assert TEST_LABELS in message and mnist.MD5["t10k-labels-idx1-ubyte"] in message
    assert hashlib.md5(labels).hexdigest() in message and "\n" not in message
    assert not list(cache().glob("t10k-labels*"))  # neither a final nor an .incomplete file


def test_a_download_that_is_not_gzip_is_refused_and_deleted(server):
    server.files[TEST_LABELS] = b"<html>not found</html>"
    with pytest.raises(SourceFormatError, match=f"'{TEST_LABELS}' .* is not a valid gzip file"):
        _download.fetch(remote(TEST_LABELS), cache())
    assert not list(cache().iterdir())


@pytest.mark.parametrize("env", _download.OFFLINE_ENVS)
def test_offline_with_a_cold_cache_says_to_give_a_source_path_or_unset_the_variable(
    server, monkeypatch, env
):
    monkeypatch.setenv(env, "1")
    with pytest.raises(SourceNotFoundError, match=f"give --source PATH .* or unset {env}") as info:
        open_source("mnist", download=True)
    assert str(cache()) in str(info.value) and "\n" not in str(info.value)
    assert not server.hits


def test_offline_with_a_warm_cache_reads_the_cache(server, monkeypatch):
    cache().mkdir(parents=True)
    for path in MNIST.glob("*.gz"):
        shutil.copyfile(path, cache() / path.name)
    monkeypatch.setenv("ARENA_OFFLINE", "1")
    assert open_source("mnist", download=True).labels[:3].tolist() == [5, 0, 4]
    assert not server.hits


def test_the_source_dir_comes_before_the_cache_and_needs_no_download(server, monkeypatch):
    monkeypatch.setenv(SOURCE_DIR_ENV, str(DATA))
    assert open_source("mnist", download=True).path == MNIST
    assert not server.hits and not cache().exists()


def test_without_download_a_cold_cache_says_how_to_download(server):
    with pytest.raises(SourceNotFoundError, match=r"open_source\('mnist', download=True\)"):
        open_source("mnist")
    assert not server.hits


def test_a_mirror_that_lacks_the_file_falls_through_to_the_next(server, monkeypatch, waits):
    monkeypatch.setenv(mnist.MIRRORS_ENV, f"{server.url('gone')}, {server.url()}")
    _download.fetch(remote(TEST_LABELS), cache())
    assert server.hits[TEST_LABELS] == 2 and waits == []  # a 404 is not retried


def test_a_busy_server_is_retried_after_its_retry_after(server, waits):
    server.statuses[TEST_LABELS] = [(503, {"Retry-After": "7"}), (502, {})]
    _download.fetch(remote(TEST_LABELS), cache())
    assert waits == [7.0, 2 * _download.BACKOFF_S]
    assert server.hits[TEST_LABELS] == 3


def test_retries_are_bounded_and_the_error_names_the_url(server, waits):
    server.statuses[TEST_LABELS] = [(500, {})] * 10
    with pytest.raises(SourceNotFoundError, match=f"{server.url()}{TEST_LABELS}: HTTP 500"):
        _download.fetch(remote(TEST_LABELS), cache())
    assert server.hits[TEST_LABELS] == _download.ATTEMPTS
    assert waits == [_download.BACKOFF_S * 2**k for k in range(_download.ATTEMPTS - 1)]


# --- CIFAR-10 -----------------------------------------------------------------------------------


def cifar_tarball(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The official layout: pickled batches of R, G, B planes, one image per batch here."""
    buffer = io.BytesIO()
    names = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for k, name in enumerate(names):
            flat = images[k : k + 1].transpose(0, 3, 1, 2).reshape(1, 3072)
            batch = {b"labels": [int(labels[k])], b"data": flat, b"filenames": [b"x.png"]}
            data = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def cifar_server(monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(6) % 10
    tarball = cifar_tarball(images, labels)
    with FileServer({cifar10.TARBALL: tarball}) as srv:
        monkeypatch.setenv(cifar10.URL_ENV, srv.url())
        srv.images, srv.labels, srv.tarball = images, labels, tarball
        yield srv


def test_cifar_download_fills_the_cache_and_a_second_open_reads_it(cifar_server, monkeypatch):
    monkeypatch.setattr(cifar10, "TARBALL_MD5", hashlib.md5(cifar_server.tarball).hexdigest())
    images, labels, _ = open_source("cifar10", download=True).load([0, 5])
    np.testing.assert_array_equal(images, cifar_server.images[[0, 5]])
    assert labels.tolist() == [0, 5]
    assert sorted(p.name for p in cache("cifar10").iterdir()) == [cifar10.TARBALL]
    source = open_source("cifar10", download=True)
    assert source.path == cache("cifar10") / cifar10.TARBALL and len(source) == 6
    assert cifar_server.hits[cifar10.TARBALL] == 1


def test_cifar_tarball_with_another_md5_than_the_official_one_is_refused(cifar_server):
    with pytest.raises(SourceFormatError, match=f"'{cifar10.TARBALL}'.*has md5 ") as info:
        open_source("cifar10", download=True)
    assert "c58f30108f718f92721af3b95e74349a" in str(info.value)
    assert hashlib.md5(cifar_server.tarball).hexdigest() in str(info.value)
    assert not list(cache("cifar10").iterdir())
