"""Opening a dataset directory and reading its splits and shared initialisation.

Reading trusts the manifest only: a file it does not list is never read, and every listed file
is checked against its size (always) and its sha256 (when asked) before it is used. Shards are
memory-mapped with numpy straight from the safetensors layout, so opening a split reads nothing
but headers (and the small ``label``, ``index`` and metric tensors).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from arena.errors import ArenaError, ChecksumError, MissingFileError, ShardError, SizeMismatchError
from arena.format._checksum import sha256_file
from arena.format._manifest import FileEntry, Manifest, manifest_bytes
from arena.format._names import MANIFEST_NAME, METRIC_PREFIX, PathLike, check_relpath
from arena.format._safetensors import load_tensor, read_header
from arena.format._sharded import ShardedArray
from arena.format._shards import shard_layout


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    """A dataset directory and its validated manifest.

    The manifest's paths are checked lexically: none is absolute or leaves ``root``. Symbolic
    links inside ``root`` are followed (a Hugging Face cache snapshot links every file to a
    blob outside the snapshot); the sha256 check is what vouches for a file's content.

    Attributes:
        root: the dataset directory.
        manifest: its validated manifest.
        manifest_sha256: the sha256 of ``arena.json``'s bytes (what results cite).
    """

    root: Path
    manifest: Manifest
    manifest_sha256: str

    def path(self, entry: FileEntry) -> Path:
        """The on-disk path of a listed file."""
        return self.root / entry.path

    def split_paths(self, split: str) -> list[Path]:
        """The on-disk paths of the shards of ``split``, in order."""
        return [self.path(f) for f in self.manifest.files(split)]

    @property
    def init_path(self) -> Path | None:
        init = self.manifest.init_file
        return None if init is None else self.path(init)


@dataclasses.dataclass(frozen=True)
class SplitArrays:
    """The arrays of one split.

    Attributes:
        params: ``(N, P)`` float32. With ``mmap=True``: a read-only ``np.memmap`` for a
            one-shard split, a :class:`ShardedArray` of memmaps otherwise. With ``mmap=False``:
            an ndarray in memory.
        label: ``(N,)`` int64, in memory.
        index: ``(N,)`` int64, in memory.
        metrics: ``{name: (N,) float32}``, in memory.
    """

    params: np.ndarray | ShardedArray
    label: np.ndarray
    index: np.ndarray
    metrics: dict[str, np.ndarray]


def open_dataset(root: PathLike, *, verify: bool = False) -> DatasetFiles:
    """Read and validate a dataset's manifest and check every file it lists.

    Every listed file must exist inside ``root`` with its listed size; with ``verify`` its
    sha256 must match too. Files the manifest does not list are never read.

    Args:
        root: the dataset directory.
        verify: also re-hash every listed file (reads the whole dataset once).

    Returns:
        The checked :class:`DatasetFiles`.

    Raises:
        MissingFileError, SizeMismatchError, ChecksumError: for the first bad file, in
            manifest order.
        UnsupportedFormatError, ManifestError, UnsafePathError: for a manifest this version
            cannot use or must not trust (then no listed file is read).
    """
    files = load(Path(root))
    for entry in files.manifest.all_files():
        problem = file_problem(files.root, entry, checksum=verify)
        if problem is not None:
            raise problem
    return files


def check_file(root: PathLike, entry: FileEntry, *, checksum: bool = True) -> None:
    """Raise the problem with one listed file, if any (use after fetching it).

    Args:
        root: the dataset directory.
        entry: the file's manifest entry.
        checksum: also compare the sha256, not only the size.
    """
    problem = file_problem(Path(root), entry, checksum=checksum)
    if problem is not None:
        raise problem


def read_split(dataset: PathLike | DatasetFiles, split: str, *, mmap: bool = True) -> SplitArrays:
    """Read one split of a dataset.

    Args:
        dataset: the dataset directory, or a :class:`DatasetFiles` from :func:`open_dataset`
            (pass one opened with ``verify=True`` to read only hash-checked files).
        split: the split name, e.g. ``"train"``.
        mmap: memory-map ``params`` instead of reading it into memory.

    Returns:
        The split's :class:`SplitArrays`; shards are concatenated in manifest order.

    Only this split's files are read; each is checked against its listed size (not its
    sha256: use :func:`open_dataset` with ``verify=True`` or :func:`verify` for that).
    """
    files = _dataset_files(dataset)
    for entry in files.manifest.files(split):
        check_file(files.root, entry, checksum=False)
    return _assemble(read_parts(files, split, mmap=mmap), files.manifest.num_params, mmap=mmap)


def read_init(dataset: PathLike | DatasetFiles) -> np.ndarray | None:
    """The shared initialisation ``(P,)`` float32, or ``None`` when the manifest lists none.

    Args:
        dataset: the dataset directory, or a :class:`DatasetFiles` from :func:`open_dataset`.

    Returns:
        The flat initialisation in layout order, in memory.
    """
    files = _dataset_files(dataset)
    init = files.manifest.init_file
    if init is None:
        return None
    check_file(files.root, init, checksum=False)
    path = files.path(init)
    tensors = read_header(path)
    params = tensors.get("params")
    if params is None or params.dtype != np.float32 or params.shape != (files.manifest.num_params,):
        raise ShardError(
            f"{path} must hold a float32 tensor 'params' of shape ({files.manifest.num_params},)."
        )
    return load_tensor(path, params, mmap=False)


def load(root: Path) -> DatasetFiles:
    """The manifest of ``root``, validated, with the sha256 of its bytes; no other file is read."""
    path = root / MANIFEST_NAME
    text = manifest_bytes(path)
    manifest = Manifest.from_json(text, source=str(path))
    return DatasetFiles(root, manifest, hashlib.sha256(text).hexdigest())


def file_problem(root: Path, entry: FileEntry, *, checksum: bool) -> ArenaError | None:
    """What is wrong with one listed file (missing, wrong size, wrong sha256), or ``None``."""
    check_relpath(entry.path, str(root / MANIFEST_NAME))
    path = root / entry.path
    if not path.is_file():
        return MissingFileError(
            f"'{entry.path}' is listed in {root / MANIFEST_NAME} but missing. "
            "Download the dataset again or rebuild it."
        )
    size = path.stat().st_size
    if size != entry.bytes:
        return SizeMismatchError(
            f"'{entry.path}' in {root} has {size} bytes; the manifest lists {entry.bytes}. "
            "It is truncated or was replaced: download the dataset again or rebuild it."
        )
    if checksum:
        actual = sha256_file(path)
        if actual != entry.sha256:
            return ChecksumError(
                f"'{entry.path}' in {root} has sha256 {actual}; the manifest lists "
                f"{entry.sha256}. It is corrupt or was modified: download it again or rebuild."
            )
    return None


def read_parts(files: DatasetFiles, split: str, *, mmap: bool) -> list[tuple]:
    """Each shard's ``(params, label, index, metrics)``, its rows checked against the manifest."""
    manifest = files.manifest
    entries = manifest.files(split)
    parts = [_read_shard(files.path(e), e, manifest.num_params, mmap=mmap) for e in entries]
    names = {tuple(sorted(m)) for _, _, _, m in parts}
    if len(names) > 1:
        raise ShardError(
            f"The shards of split '{split}' disagree on their metrics: {sorted(names)}."
        )
    total = sum(len(label) for _, label, _, _ in parts)
    if total != manifest.num_examples(split):
        raise ShardError(
            f"Split '{split}' of {files.root} holds {total} rows; the manifest lists "
            f"{manifest.num_examples(split)}. Rebuild or download the dataset again."
        )
    return parts


def _dataset_files(dataset: PathLike | DatasetFiles) -> DatasetFiles:
    return dataset if isinstance(dataset, DatasetFiles) else load(Path(dataset))


def _read_shard(
    path: Path, entry: FileEntry, num_params: int, *, mmap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    header = read_header(path)
    n, metrics = shard_layout(path, header, num_params)
    if entry.num_examples is not None and n != entry.num_examples:
        raise ShardError(f"{path} holds {n} rows; the manifest lists {entry.num_examples}.")
    params = load_tensor(path, header["params"], mmap=mmap)
    label = load_tensor(path, header["label"], mmap=False)
    index = load_tensor(path, header["index"], mmap=False)
    values = {m: load_tensor(path, header[METRIC_PREFIX + m], mmap=False) for m in metrics}
    return params, label, index, values


def _assemble(parts: list, num_params: int, *, mmap: bool) -> SplitArrays:
    if not parts:
        empty = np.zeros(0, np.int64)
        return SplitArrays(np.zeros((0, num_params), np.float32), empty, empty.copy(), {})
    params = [p for p, _, _, _ in parts]
    if len(params) == 1:
        stacked = params[0]
    else:
        stacked = ShardedArray(params) if mmap else np.concatenate(params)
    metrics = {m: np.concatenate([v[m] for _, _, _, v in parts]) for m in parts[0][3]}
    return SplitArrays(
        params=stacked,
        label=np.concatenate([label for _, label, _, _ in parts]),
        index=np.concatenate([index for _, _, index, _ in parts]),
        metrics=metrics,
    )
