"""CIFAR-10 from the official ``cifar-10-python.tar.gz`` (or its extracted folder), or a subset npz.

The official archive holds pickled batches ``data_batch_1`` .. ``data_batch_5`` (10,000 images
each) and ``test_batch``; each image is 3,072 bytes: the 1,024 red values of the 32x32 image in
row-major order, then green, then blue. They are read straight from the tarball (no extraction)
and returned as ``(32, 32, 3)`` uint8 (HWC). The pickles are decoded with a restricted unpickler
that builds only numpy arrays, lists and dicts, so a tampered archive cannot run code.

Source index: position in the official training set (batches 1..5 in order, 0..49,999), then
50,000 + position in the official test batch (50,000..59,999); positions and source indices
coincide. Official splits: ``"train"`` and ``"test"``.

The lossless subset npz (keys ``x_train``, ``y_train``, ``train_index``, ``x_test``, ``y_test``,
``test_index``, ``classes``) keeps the same source indices (``train_index``, and
``50000 + test_index``); its positions are its training images then its test images.

Opened without a path, CIFAR-10 is read from ``$ARENA_SOURCE_DIR/cifar10`` if that holds it,
else from the cache ``<arena home>/sources/cifar10/``; ``download=True`` fills the cache with the
official tarball from :data:`URL` (or ``$ARENA_CIFAR10_URL``), checked against
:data:`TARBALL_MD5` (tests replace that constant to serve a tiny tarball of their own).
"""

from __future__ import annotations

import abc

import importlib
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from arena import catalog
from arena import format as fmt
from arena.errors import SourceFormatError, SourceNotFoundError
from arena.sources._base import (
    RELABEL,
    Source,
    check_vector,
    missing_files,
    npz_array,
    npz_header,
    open_npz,
    resolve_path,
)
from arena.sources._download import RemoteFile, cached_source

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
URL_ENV = "ARENA_CIFAR10_URL"
TARBALL = "cifar-10-python.tar.gz"
TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"  # as published next to URL
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
NUM_TRAIN = 50_000
NUM_TEST = 10_000
CLASS_NAMES = catalog.facts("neural_cifar10").classes  # the official label order
_EXPECTED = f"{TARBALL}, its extracted folder {FOLDER}/, or cifar10_lossless_subset.npz"
_SIGNAL = {"kind": "image", "shape": [32, 32, 3], "dtype": "uint8", "range": [0, 255]}
_INDEX = "official train position (0..49999), then 50000 + official test position"
_SUBSET_KEYS = ("x_train", "y_train", "train_index", "x_test", "y_test", "test_index", "classes")


def _numpy_reconstruct():
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy has no multiarray._reconstruct")  # pragma: no cover


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches: numpy arrays, bytes, lists and dicts, nothing else."""

    def find_class(self, module: str, name: str):
        allowed = {
            ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy", "ndarray"): lambda: np.ndarray,
            ("numpy", "dtype"): lambda: np.dtype,
            ("_codecs", "encode"): lambda: importlib.import_module("codecs").encode,
        }
        if (module, name) not in allowed:
            raise SourceFormatError(
                f"A CIFAR-10 batch asks to unpickle {module}.{name}, which the official batches "
                "never use; refusing to load it."
            )
        return allowed[(module, name)]()


def unpickle_batch(data: bytes, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pickled CIFAR-10 batch into images ``(n, 32, 32, 3)`` uint8 and labels int64."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise SourceFormatError(f"{what} is not a CIFAR-10 batch: it lacks b'data' or b'labels'.")
        flat = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], np.int64)
    except SourceFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError) as exc:
        raise SourceFormatError(f"{what} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc}); "
                                f"get the archive again from {URL}.") from None
    if flat.dtype != np.uint8 or flat.ndim != 2 or flat.shape[1] != 3072:
        raise SourceFormatError(
            f"{what}: data must be uint8 (n, 3072); got {flat.dtype} {flat.shape}."
        )
    if labels.shape != (flat.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise SourceFormatError(
            f"{what}: labels must be {flat.shape[0]} integers in 0..9; got shape {labels.shape}."
        )
    images = flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


class _BatchesSource(Source):
    """All of CIFAR-10 from the official pickled batches, in a tarball or an extracted folder."""

    name = "cifar10"
    class_names = CLASS_NAMES
    origin = URL
    revision = "official python batches"
    index_convention = _INDEX

    def __init__(self, path: Path):
        self.path = path
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._num_train = 0

    @property
    def signal(self) -> dict[str, Any]:
        return dict(_SIGNAL)

    @abc.abstractmethod
    def _batches(self) -> dict[str, bytes]:
        """The raw pickled batches, ``{batch name: bytes}``."""

    def _decoded(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            raw = self._batches()
            parts = [
                unpickle_batch(raw[b], what=f"{b} in '{self.path}'")
                for b in (*TRAIN_BATCHES, TEST_BATCH)
            ]
            self._arrays = (
                np.concatenate([p[0] for p in parts]),
                np.concatenate([p[1] for p in parts]),
            )
            self._num_train = sum(p[1].shape[0] for p in parts[:-1])
        return self._arrays

    def _catalogue(self):
        labels = self._decoded()[1]
        n_train = self._num_train
        splits = {"train": np.arange(n_train), "test": np.arange(n_train, labels.shape[0])}
        return labels, np.arange(labels.shape[0]), splits

    def _read(self, positions: np.ndarray) -> np.ndarray:
        return self._decoded()[0][positions]


class CifarTarballSource(_BatchesSource):
    """CIFAR-10 read straight from ``cifar-10-python.tar.gz``."""

    def _batches(self) -> dict[str, bytes]:
        wanted = {f"{FOLDER}/{b}": b for b in (*TRAIN_BATCHES, TEST_BATCH)}
        found: dict[str, bytes] = {}
        try:
            with tarfile.open(self.path, "r:*") as archive:
                for member in archive:
                    if member.isfile() and member.name in wanted:
                        found[wanted[member.name]] = archive.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise SourceFormatError(f"'{self.path}' is a damaged tarball ({exc}); get it again from {URL}.") from None
        missing = [m for m, b in wanted.items() if b not in found]
        if missing:
            raise SourceFormatError(
                f"'{self.path}' is not the official CIFAR-10 archive: it lacks "
                f"{', '.join(missing)}."
            )
        return found

    def _raw_files(self) -> dict[str, Path]:
        return {self.path.name: self.path}


class CifarFolderSource(_BatchesSource):
    """CIFAR-10 from the extracted ``cifar-10-batches-py/`` folder."""

    revision = "official python batches (extracted)"

    def _batches(self) -> dict[str, bytes]:
        return {b: (self.path / b).read_bytes() for b in (*TRAIN_BATCHES, TEST_BATCH)}

    def _raw_files(self) -> dict[str, Path]:
        return {f"{FOLDER}/{b}": self.path / b for b in (*TRAIN_BATCHES, TEST_BATCH)}


class CifarSubsetSource(Source):
    """A pixel-exact subset of CIFAR-10 stored as npz; positions are its train then test images."""

    name = "cifar10"
    origin = URL
    index_convention = _INDEX

    def __init__(self, path: Path):
        """Open the npz and check everything but the pixels: its keys, the images' dtype and
        shape (from the headers), and that labels and source indices are 1-D integers, one per
        image, labels within the classes and indices official and unique; a file that fails
        raises :class:`SourceFormatError` naming the array and the value."""
        self.path = path
        with open_npz(path, "a CIFAR-10 subset npz") as npz:
            missing = set(_SUBSET_KEYS) - set(npz.files)
            if missing:
                raise SourceFormatError(
                    f"'{path}' is not a CIFAR-10 subset npz: it lacks "
                    f"{', '.join(sorted(missing))}."
                )
            classes = check_vector(npz_array(npz, "classes", path), path, "classes", None, "string")
            self.class_names = tuple(str(c) for c in classes)
            if self.class_names != CLASS_NAMES:
                raise SourceFormatError(f"'{path}': 'classes' must be CIFAR-10's {len(CLASS_NAMES)} class names "
                                        f"{list(CLASS_NAMES)} in order; got {list(self.class_names)}.")
            self._meta = {}
            for split, limit in (("train", NUM_TRAIN), ("test", NUM_TEST)):
                shape, dtype = npz_header(npz, f"x_{split}", path)
                if dtype != np.uint8 or len(shape) != 4 or shape[1:] != (32, 32, 3):
                    raise SourceFormatError(f"'{path}': 'x_{split}' must be uint8 (n, 32, 32, 3); got {dtype} "
                                            f"{shape}.")
                if shape[0] == 0:
                    raise SourceFormatError(f"'{path}': 'x_{split}' holds no images; a subset needs some of both "
                                            "train and test.")
                for key in (f"y_{split}", f"{split}_index"):
                    self._meta[key] = check_vector(npz_array(npz, key, path), path, key, shape[0], "integer")
                fmt.check_labels(self._meta[f"y_{split}"], len(CLASS_NAMES), where=f"'{path}': 'y_{split}'",
                                 fix=RELABEL, error=SourceFormatError)
                index = self._meta[f"{split}_index"]
                bad = np.flatnonzero((index < 0) | (index >= limit))
                if bad.size or np.unique(index).size != index.size:
                    what = (f"index {int(index[bad[0]])} outside the official 0..{limit - 1}" if bad.size
                            else "a repeated index")
                    raise SourceFormatError(f"'{path}': '{split}_index' holds {what}; each image's position in "
                                            f"the official {split} set is needed, once.")
        n_train, n_test = self._meta["y_train"].shape[0], self._meta["y_test"].shape[0]
        self.revision = f"lossless subset: {n_train} train + {n_test} test images"
        self._images: np.ndarray | None = None

    @property
    def signal(self) -> dict[str, Any]:
        return dict(_SIGNAL)

    def _catalogue(self):
        m = self._meta
        n_train = m["y_train"].shape[0]
        labels = np.concatenate([m["y_train"], m["y_test"]])
        index = np.concatenate([m["train_index"], NUM_TRAIN + m["test_index"]])
        splits = {"train": np.arange(n_train), "test": n_train + np.arange(m["y_test"].shape[0])}
        return labels, index, splits

    def _read(self, positions: np.ndarray) -> np.ndarray:
        if self._images is None:
            with open_npz(self.path, "a CIFAR-10 subset npz") as npz:
                images = np.concatenate([npz_array(npz, "x_train", self.path), npz_array(npz, "x_test", self.path)])
            if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
                raise SourceFormatError(
                    f"'{self.path}': images must be uint8 (n, 32, 32, 3); got {images.dtype} "
                    f"{images.shape}."
                )
            self._images = images
        return self._images[positions]

    def _raw_files(self) -> dict[str, Path]:
        return {self.path.name: self.path}


def remote_file() -> RemoteFile:
    """The official tarball at ``$ARENA_CIFAR10_URL`` (a URL ending in ``/`` is a folder) or URL."""
    url = os.environ.get(URL_ENV, "").strip() or URL
    if url.endswith("/"):
        url += TARBALL
    return RemoteFile(TARBALL, (url,), TARBALL_MD5)


def _holds_files(directory: Path) -> bool:
    if not directory.is_dir():
        return False
    try:
        _pick(directory)
    except SourceNotFoundError:
        return False
    return True


def open_cifar10(path: str | os.PathLike | None = None, *, download: bool = False) -> Source:
    """Open CIFAR-10 from the official tarball, its extracted folder, or a subset npz.

    Args:
        path: the file or folder itself, or a directory holding one of them (the tarball is
            preferred, then the extracted folder, then ``*.npz``); without it,
            ``$ARENA_SOURCE_DIR/cifar10`` or the cache ``<arena home>/sources/cifar10/``.
        download: without ``path``, download the official tarball into the cache when neither
            place holds CIFAR-10 (not allowed under ``ARENA_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``).
    """
    get = URL
    if path is None:
        get = f"{URL}, or let `arena-build cifar10 --download` (open_source('cifar10', download=True)) fetch it"
        path = cached_source("cifar10", [remote_file()], download=download, present=_holds_files)
    path = resolve_path("cifar10", path, _EXPECTED, get)
    if path.is_dir():
        path = _pick(path)
    if path.is_dir():
        if not all((path / b).is_file() for b in (*TRAIN_BATCHES, TEST_BATCH)):
            expected = f"data_batch_1..5 and test_batch ({_EXPECTED})"
            raise missing_files("cifar10", path, expected, URL)
        return CifarFolderSource(path)
    if path.suffix == ".npz":
        return CifarSubsetSource(path)
    if tarfile.is_tarfile(path):
        return CifarTarballSource(path)
    raise SourceFormatError(f"'{path}' is neither a tarball nor an npz; expected {_EXPECTED}.")


def _pick(directory: Path) -> Path:
    if (directory / TARBALL).is_file():
        return directory / TARBALL
    if (directory / FOLDER).is_dir():
        return directory / FOLDER
    if (directory / TEST_BATCH).is_file():
        return directory
    npz = sorted(directory.glob("*.npz"))
    if npz:
        return npz[0]
    raise missing_files("cifar10", directory, _EXPECTED, URL)
