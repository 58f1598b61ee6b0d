"""MNIST from its four official IDX files (gzipped or not), or from the Hugging Face dataset.

Source index: position in the official training file (0..59,999), then 60,000 + position in the
official test file (60,000..69,999). Positions and source indices coincide. Official splits:
``"train"`` and ``"test"``.

Opened without a path, MNIST is read from ``$ARENA_SOURCE_DIR/mnist`` if that holds the files,
else from the cache ``<arena home>/sources/mnist/``; ``download=True`` fills the cache from the
first of :data:`MIRRORS` (or ``$ARENA_MNIST_MIRRORS``, comma-separated base URLs) that answers,
checking each file against the official md5 of its uncompressed content.

``open_mnist("hf://datasets/ylecun/mnist[@REV]")`` reads the Hugging Face dataset instead (PNG
images in Parquet files, see :mod:`arena.sources._parquet`). Its rows are the official files'
examples in the official order (the dataset was converted from the IDX files by the loading
script that enumerated them), so source indices, labels and pixels are the same as from the IDX
files, and a neural dataset built from either is the same apart from its manifest's ``source``
block.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from arena import format as fmt
from arena.errors import SourceFormatError
from arena.sources import _parquet
from arena.sources._base import RELABEL, Source, missing_files, resolve_path
from arena.sources._download import RemoteFile, cached_source

URL = "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRRORS_ENV = "ARENA_MNIST_MIRRORS"
HF_DATASET = "hf://datasets/ylecun/mnist"
SIGNAL = {"kind": "image", "shape": [28, 28, 1], "dtype": "uint8", "range": [0, 255]}
MD5 = {  # of the uncompressed files, as published with the dataset
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_EXPECTED = "the four MNIST IDX files " + ", ".join(f"{f}[.gz]" for f in FILES.values())

# IDX type codes: https://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT"), all big-endian
_CHUNK = 1 << 22  # bytes per read of a gzipped IDX stream
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx_header(data: bytes, what: str) -> tuple[int, tuple[int, ...], np.dtype]:
    """``(header bytes, shape, dtype)`` of an IDX file that starts with ``data`` (see :func:`parse_idx`)."""
    if len(data) < 4:
        raise SourceFormatError(f"{what} is not an IDX file: it ends after {len(data)} bytes, inside its "
                                "4-byte magic number; get it again.")
    if data[0] != 0 or data[1] != 0:
        raise SourceFormatError(
            f"{what} is not an IDX file: its magic number {data[:4]!r} does not start with two "
            "zero bytes."
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES or ndim == 0:
        raise SourceFormatError(
            f"{what} has an IDX header with type code 0x{code:02X} and {ndim} dimensions; "
            f"valid type codes are {', '.join(f'0x{c:02X}' for c in _IDX_TYPES)}, dimensions >= 1."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SourceFormatError(f"{what} ends inside its IDX header ({len(data)} bytes).")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return header, shape, np.dtype(_IDX_TYPES[code])


MAX_IDX_BYTES = 1 << 31  # the data an IDX header may claim: MNIST's largest file holds 47 MB


def _data_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize  # Python ints: a header's claim never wraps around


def parse_idx(data: bytes, *, what: str = "IDX data") -> np.ndarray:
    """Decode an IDX file's bytes into an array of its header's shape and type.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32. The data that follows must fill exactly that shape.

    Raises:
        SourceFormatError: the magic number, type code or data length is wrong.
    """
    header, shape, dtype = _idx_header(data, what)
    expected = _data_bytes(shape, dtype)
    if len(data) - header != expected:
        claim = f"{shape}" if len(shape) <= 4 else f"of {len(shape)} dimensions"
        size = f"{expected}" if expected < 10**15 else f"over 10^{len(str(expected)) - 1}"
        raise SourceFormatError(
            f"{what} has IDX shape {claim} ({size} data bytes) but holds "
            f"{len(data) - header} data bytes; the file is truncated or not an IDX file: get it again."
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or not (recognised by its gzip magic bytes, not its name).

    A gzipped file is decompressed as a stream and never beyond the size its IDX header states
    (plus one byte, to tell a longer file), so a corrupt or hostile file cannot take unbounded
    memory; a damaged gzip stream raises :class:`SourceFormatError` naming the file.
    """
    what = f"'{path}'"
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if not gzipped:
        return parse_idx(Path(path).read_bytes(), what=what)
    try:
        with gzip.open(path, "rb") as stream:
            head = stream.read(4)
            head += stream.read(4 * head[3]) if len(head) == 4 else b""
            header, shape, dtype = _idx_header(head, what)
            if _data_bytes(shape, dtype) > MAX_IDX_BYTES:  # not inflated: it may be a bomb that keeps its claim
                raise SourceFormatError(f"{what} claims {_data_bytes(shape, dtype):.3g} data bytes in its IDX header, "
                                        f"more than the {MAX_IDX_BYTES} an IDX file read here may hold: it is not "
                                        "an MNIST file; get the files again.")
            left, chunks = _data_bytes(shape, dtype) + 1, [head]
            while left > 0 and (chunk := stream.read(min(left, _CHUNK))):  # never one huge read(n)
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise SourceFormatError(f"{what} is a damaged gzip file ({type(exc).__name__}: {exc}); get it "
                                "again.") from None
    return parse_idx(data, what=what)


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


class MnistSource(Source):
    """MNIST, 70,000 handwritten digits as uint8 ``(28, 28, 1)`` images, labels 0..9."""

    name = "mnist"
    class_names = tuple(str(d) for d in range(10))
    origin = URL
    revision = "official IDX files"
    index_convention = "official train position (0..59999), then 60000 + official test position"

    def __init__(self, root: Path):
        self.path = root
        self.files = {}
        for key, stem in FILES.items():
            found = _find(root, stem)
            if found is None:
                raise missing_files(self.name, root, f"{stem}[.gz], one of {_EXPECTED}", URL)
            self.files[key] = found
        self._images_all: np.ndarray | None = None

    @property
    def signal(self) -> dict[str, Any]:
        return dict(SIGNAL)

    def _where(self, which: str) -> str:
        return f"MNIST {which} files in '{self.path}'"

    def _labels(self, which: str) -> np.ndarray:
        labels = read_idx(self.files[f"{which}_labels"])
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise SourceFormatError(
                f"{self._where(which)}: labels must be uint8 (n,) in 0..9; got {labels.dtype} "
                f"{labels.shape}."
            )
        if labels.shape[0] == 0:
            raise SourceFormatError(f"'{self.files[f'{which}_labels']}' holds no labels: MNIST's {which} files "
                                    "hold examples; get them again.")
        fmt.check_labels(labels, 10, where=f"'{self.files[f'{which}_labels']}'", fix=RELABEL,
                         error=SourceFormatError)
        return labels

    def _images(self, which: str) -> np.ndarray:
        images = read_idx(self.files[f"{which}_images"])
        n = self._labels(which).shape[0]
        if images.dtype != np.uint8 or images.shape != (n, 28, 28):
            raise SourceFormatError(
                f"{self._where(which)}: images must be uint8 ({n}, 28, 28) to match the {n} "
                f"labels; got {images.dtype} {images.shape}."
            )
        return images[..., None]

    def _decoded(self) -> np.ndarray:
        if self._images_all is None:
            self._images_all = np.concatenate([self._images("train"), self._images("test")])
        return self._images_all

    def _catalogue(self):
        train, test = self._labels("train"), self._labels("test")
        n_train, n_test = train.shape[0], test.shape[0]
        splits = {"train": np.arange(n_train), "test": n_train + np.arange(n_test)}
        return np.concatenate([train, test]), np.arange(n_train + n_test), splits

    def _read(self, positions: np.ndarray) -> np.ndarray:
        return self._decoded()[positions]

    def _raw_files(self) -> dict[str, Path]:
        return {p.name: p for p in self.files.values()}


class MnistHubSource(Source):
    """MNIST from a Hugging Face dataset of Parquet files (``image`` PNGs, ``label``), by default
    ``ylecun/mnist``: the same 70,000 images, labels and source indices as :class:`MnistSource`."""

    name = "mnist"
    class_names = MnistSource.class_names
    index_convention = MnistSource.index_convention

    def __init__(self, url: str):
        repo, commit, root, files = _parquet.fetch(url, what="the MNIST source")
        self.url, self.path = url, root
        self.origin = f"https://huggingface.co/datasets/{repo}"
        self.revision = f"hf://datasets/{repo}@{commit}"
        by_split: dict[str, list[Path]] = {"train": [], "test": []}
        for f in files:
            split = _parquet.split_of(f.relative_to(root).as_posix())
            if split in by_split:
                by_split[split].append(f)
        if not by_split["train"] or not by_split["test"]:
            found = ", ".join(f.relative_to(root).as_posix() for f in files)
            raise SourceFormatError(
                f"{url} must hold train-*.parquet and test-*.parquet files (as {HF_DATASET} does); "
                f"found {found}."
            )
        self._files = [f for split in ("train", "test") for f in by_split[split]]
        train_blobs, train_labels = _parquet.read_columns(by_split["train"])
        test_blobs, test_labels = _parquet.read_columns(by_split["test"])
        labels = np.concatenate([train_labels, test_labels])
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise SourceFormatError(f"{url}: labels must be 0..9; got values in [{labels.min()}, {labels.max()}].")
        self._blobs = train_blobs + test_blobs
        self._labels_all = labels
        self._n_train = len(train_blobs)

    @property
    def signal(self) -> dict[str, Any]:
        return dict(SIGNAL)

    def _catalogue(self):
        n = len(self._blobs)
        splits = {"train": np.arange(self._n_train), "test": np.arange(self._n_train, n)}
        return self._labels_all, np.arange(n), splits

    def _read(self, positions: np.ndarray) -> np.ndarray:
        images = [
            _parquet.decode_gray(self._blobs[p], (28, 28), what=f"{self.url} example {p}")
            for p in positions.tolist()
        ]
        return np.stack(images)[..., None] if images else np.zeros((0, 28, 28, 1), np.uint8)

    def _raw_files(self) -> dict[str, Path]:
        return {f.relative_to(self.path).as_posix(): f for f in self._files}


def remote_files() -> list[RemoteFile]:
    """The four gzipped IDX files at each mirror (``$ARENA_MNIST_MIRRORS`` or :data:`MIRRORS`)."""
    mirrors = [m.strip() for m in os.environ.get(MIRRORS_ENV, "").split(",") if m.strip()]
    bases = [m if m.endswith("/") else f"{m}/" for m in mirrors or MIRRORS]
    return [
        RemoteFile(f"{stem}.gz", tuple(f"{base}{stem}.gz" for base in bases), MD5[stem], True)
        for stem in FILES.values()
    ]


def _holds_files(root: Path) -> bool:
    return root.is_dir() and all(_find(root, stem) is not None for stem in FILES.values())


def open_mnist(path: str | os.PathLike | None = None, *, download: bool = False) -> Source:
    """Open MNIST from a directory holding the four IDX files (``.gz`` or uncompressed).

    Args:
        path: the directory (or one of its files), or a Hugging Face dataset URL such as
            ``hf://datasets/ylecun/mnist[@REVISION]``; without it, ``$ARENA_SOURCE_DIR/mnist`` or
            the cache ``<arena home>/sources/mnist/``.
        download: without ``path``, download the official files into the cache when neither
            place holds them (not allowed under ``ARENA_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``).
    """
    if _parquet.is_hub_url(path):
        return MnistHubSource(str(path))
    get = f"{URL}, or use {HF_DATASET}"
    if path is None:
        get = f"{URL}, or let `arena-build mnist --download` (open_source('mnist', download=True)) fetch them"
        path = cached_source("mnist", remote_files(), download=download, present=_holds_files)
    root = resolve_path("mnist", path, _EXPECTED, get)
    if root.is_file():
        root = root.parent
    return MnistSource(root)
