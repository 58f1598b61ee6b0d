"""What every raw-data source provides: the :class:`Source` contract and the helpers readers share.

A source is a classic dataset read from its official files. Items are addressed by *position*
``0 .. len(source) - 1``; each position also has a *source index* (the item's place in the
official dataset, the ``index`` column of a neural dataset's shards) and a label. The two
differ only when a source holds part of a dataset (the CIFAR-10 subset, for instance).
"""

from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from arena.errors import ConfigError, SourceFormatError, SourceNotFoundError

SOURCE_DIR_ENV = "ARENA_SOURCE_DIR"
RELABEL = "Get the file again, or fix its labels."  # what to do about labels outside the classes
_HASH_CHUNK = 1 << 20


class Mesh(NamedTuple):
    """A triangle mesh: ``vertices`` float64 ``(V, 3)`` and ``faces`` int64 ``(F, 3)``.

    As read from a file, polygons are split into triangle fans and the coordinates are the
    file's own (not normalised).
    """

    vertices: np.ndarray
    faces: np.ndarray


class Source(abc.ABC):
    """A raw dataset read from its official files, with one interface for every reader.

    Attributes:
        name: the registry name (``"mnist"``, ``"cifar10"``, ...).
        class_names: the label names, label ``k`` is ``class_names[k]``.
        origin: where the data comes from (the official URL or package).
        revision: which release or subset of it was read.
        path: the local file or directory that was read (``None`` for packaged data).
        signal: what one item is, e.g. ``{"kind": "image", "shape": [28, 28, 1], ...}``.
        index_convention: how source indices are numbered, in words.

    Subclasses implement :meth:`_read` (signals at sorted, unique positions) and
    :meth:`_catalogue` (labels and source indices of every position, and the official splits).
    """

    name: str = ""
    class_names: tuple[str, ...] = ()
    origin: str = ""
    revision: str = ""
    index_convention: str = ""
    path: Path | None = None

    @property
    @abc.abstractmethod
    def signal(self) -> dict[str, Any]:
        """What one item is, e.g. ``{"kind": "image", "shape": [28, 28, 1], ...}``."""

    @abc.abstractmethod
    def _catalogue(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(labels, source_indices, splits)`` of every position."""

    @abc.abstractmethod
    def _read(self, positions: np.ndarray):
        """Signals at ``positions`` (sorted, unique), in that order."""

    def _raw_files(self) -> dict[str, Path]:
        """The files read, keyed by the name they are reported under in :attr:`sha256`.

        Sources read from a tree of many files override :meth:`_digests` instead.
        """
        raise TypeError(f"{type(self).__name__} must define _raw_files() or _digests().")

    @functools.cached_property
    def _cat(self) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        labels, index, splits = self._catalogue()
        return (
            np.asarray(labels, np.int64),
            np.asarray(index, np.int64),
            {k: np.asarray(v, np.int64) for k, v in splits.items()},
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labels(self) -> np.ndarray:
        """Label of every position, int64 ``(len,)`` (cheap: no signal is decoded)."""
        return self._cat[0]

    @property
    def index(self) -> np.ndarray:
        """Source index of every position, int64 ``(len,)`` (see :attr:`index_convention`)."""
        return self._cat[1]

    @property
    def splits(self) -> dict[str, np.ndarray]:
        """The official splits as ``{split name: positions}``, in official order.

        Builders cut docs/design.md §4's train/val/test from these (for example the first 55,000
        positions of MNIST's ``"train"``). A dataset without an official split has one ``"all"``.
        """
        return dict(self._cat[2])

    def __len__(self) -> int:
        return int(self._cat[0].shape[0])

    @property
    def names(self) -> list[str] | None:
        """Each position's file or archive member, for sources read from many files, else None."""
        return None

    @functools.cached_property
    def sha256(self) -> dict[str, str]:
        """sha256 of the raw files read, ``{name: hex digest}`` (computed once, on first use)."""
        return self._digests()

    def _digests(self) -> dict[str, str]:
        return {name: file_sha256(path) for name, path in self._raw_files().items()}

    def load(
        self, indices: Iterable[int] | np.ndarray | None = None
    ) -> tuple[np.ndarray | list[Mesh], np.ndarray, np.ndarray]:
        """Read items at the given positions (all when ``None``), in the order given.

        Returns:
            ``(signals, labels, source_index)``: images as uint8 ``(n, H, W, C)``, shapes as a
            list of :class:`Mesh`; ``labels`` and ``source_index`` int64 ``(n,)``.
        """
        positions = self._positions(indices)
        unique, inverse = np.unique(positions, return_inverse=True)
        signals = self._read(unique)
        if isinstance(signals, np.ndarray):
            signals = signals[inverse]
        else:
            signals = [signals[i] for i in inverse]
        return signals, self.labels[positions], self.index[positions]

    def describe(self) -> dict[str, Any]:
        """The manifest's ``source`` block (hashes every raw file on first call)."""
        return {
            "name": self.name,
            "origin": self.origin,
            "revision": self.revision,
            "sha256": dict(self.sha256),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "num_examples": len(self),
            "index": self.index_convention,
            "splits": {k: int(v.shape[0]) for k, v in self.splits.items()},
        }

    def _positions(self, indices) -> np.ndarray:
        n = len(self)
        if indices is None:
            return np.arange(n, dtype=np.int64)
        raw = np.asarray(indices)
        if raw.size == 0:
            return np.zeros(0, np.int64)
        if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
            raise ConfigError(
                f"Source '{self.name}' takes a 1-D sequence of integer positions; got an array of "
                f"dtype {raw.dtype} and shape {raw.shape}."
            )
        positions = raw.astype(np.int64)
        if positions.min() < 0 or positions.max() >= n:
            raise ConfigError(
                f"Source '{self.name}' has positions 0..{n - 1}; got values in "
                f"[{positions.min()}, {positions.max()}]."
            )
        return positions

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path is not None else ""
        return f"<Source '{self.name}': {self.revision}{where}>"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(root: Path, files: Sequence[Path]) -> str:
    """sha256 of a file tree: the digest of its ``sha256sum``-style listing.

    The listing is one line ``"<sha256>  <path relative to root>\\n"`` per file (the format
    ``sha256sum`` prints), sorted by path; the digest is the sha256 of that text.
    """
    entries = sorted((f.relative_to(root).as_posix(), f) for f in files)
    listing = "".join(f"{file_sha256(f)}  {rel}\n" for rel, f in entries)
    return hashlib.sha256(listing.encode()).hexdigest()


def resolve_path(name: str, path: str | os.PathLike | None, expected: str, get: str) -> Path:
    """The path to read ``name`` from: ``path``, else ``$ARENA_SOURCE_DIR/<name>``.

    ``expected`` names the files looked for and ``get`` says where to obtain them; both go into
    the error raised when neither path exists.
    """
    if path is None:
        base = os.environ.get(SOURCE_DIR_ENV)
        if not base:
            raise SourceNotFoundError(
                f"Source '{name}' needs its raw files ({expected}): pass their path "
                f"(open_source('{name}', path=...) or --source PATH) or set {SOURCE_DIR_ENV} to a "
                f"directory with a '{name}' folder. Get them from {get}"
            )
        path = Path(base) / name
    path = Path(path).expanduser()
    if not path.exists():
        raise SourceNotFoundError(
            f"Source '{name}': '{path}' does not exist; expected {expected}. Get them from {get}"
        )
    return path


def missing_files(name: str, where: Path, expected: str, get: str) -> SourceNotFoundError:
    """The one-line error for a path that exists but lacks the expected files."""
    return SourceNotFoundError(
        f"Source '{name}': '{where}' does not hold {expected}. Get them from {get}"
    )



@contextlib.contextmanager
def open_npz(path: Path, what: str) -> Iterator[Any]:
    """``np.load(path)`` without pickles, as a context; a file that is not a readable npz (not a
    zip archive, truncated, a single ``.npy`` array) raises :class:`SourceFormatError` naming it
    and ``what`` it should be."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceFormatError(f"'{path}' is not {what}: it is not a readable npz (a zip of .npy "
                                f"arrays; {type(exc).__name__}). Get the file again.") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise SourceFormatError(f"'{path}' is not {what}: it holds one array, not an npz of named arrays.")
    with npz:
        yield npz


def npz_header(npz, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of array ``key`` of an open npz, read from its header only (so a
    claimed size allocates nothing); :class:`SourceFormatError` when the entry is unreadable."""
    try:
        with npz.zip.open(f"{key}.npy") as handle:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                version, np.lib.format.read_array_header_2_0)
            shape, _, dtype = reader(handle)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise SourceFormatError(f"'{path}': its array '{key}' is unreadable ({exc}); get the file again.") from None
    return tuple(int(d) for d in shape), dtype


def npz_array(npz, key: str, path: Path) -> np.ndarray:
    """Array ``key`` of an open npz; :class:`SourceFormatError` when it cannot be read (a
    pickled object array, a truncated or corrupt entry)."""
    try:
        return npz[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceFormatError(f"'{path}': its array '{key}' is unreadable ({exc}); get the file again.") from None


def check_vector(array: np.ndarray, path: Path, key: str, length: int | None, kind: str) -> np.ndarray:
    """``array`` as a 1-D vector of ``kind`` (``"integer"`` or ``"string"``) with ``length``
    entries (any when ``None``), else :class:`SourceFormatError` naming ``key`` in ``path``."""
    dtype_ok = (np.issubdtype(array.dtype, np.integer) if kind == "integer"
                else array.dtype.kind in "US")
    if not dtype_ok or array.ndim != 1 or (length is not None and array.shape[0] != length):
        want = f"({length},)" if length is not None else "(n,)"
        raise SourceFormatError(f"'{path}': '{key}' must be a 1-D {kind} array {want}; got {array.dtype} "
                                f"{array.shape}. Get the file again.")
    return array.astype(np.int64) if kind == "integer" else array.astype(str)
