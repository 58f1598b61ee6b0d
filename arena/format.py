"""The Arena format, version 1: shards, the shared initialisation, the manifest and its checks.

A neural dataset is a directory::

    arena.json                                        the manifest (:class:`Manifest`)
    init.safetensors                                  the shared initialisation, ``params`` (P,)
    data/{split}-{i:05d}-of-{count:05d}.safetensors   the shards
    README.md                                         the dataset card

Each shard is a safetensors file holding ``params`` float32 ``(n, P)``, ``label`` int64
``(n,)``, ``index`` int64 ``(n,)`` (position in the source dataset) and one ``metric.<name>``
float32 ``(n,)`` per fit metric.

Writing is atomic and deterministic: a file is written to ``<name>.incomplete`` in the same
directory, fsynced and renamed, so a killed build leaves only whole files; the same arrays give
byte-identical files (no timestamps, tensors in a fixed order).

Reading trusts the manifest only: a file it does not list is never read, a listed path that is
absolute, not normalised or leaves the dataset directory is refused, and every listed file is
checked against its size (always) and its sha256 (when asked). The manifest itself is bounded in
size and nesting before it is parsed, and validated against the JSON Schema ``arena-manifest/1``
(``arena/manifest.schema.json``) when it is opened, so every key a reader uses has its type.
Shards are memory-mapped with numpy straight from the safetensors layout (an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensor bytes), so
opening a split reads nothing but headers.

This module needs numpy and safetensors only.

Example:
    >>> write_shard(root / shard_name("train", 0, 1), params, label, index, {"psnr": psnr})
    >>> split = read_split(root, "train")          # after writing arena.json
    >>> split.params[:8]                           # reads eight rows from disk
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import itertools
import json
import math
import os
import re
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Union

import numpy as np
import safetensors.numpy

from arena.errors import (
    ArenaError,
    ChecksumError,
    ConfigError,
    DatasetContentError,
    ManifestError,
    MissingFileError,
    ShardError,
    SizeMismatchError,
    UnsafePathError,
    UnsupportedFormatError,
    WriteError,
)
from arena.layout import KERNEL_ORIENTATION, Layout

FORMAT = "arena/1"
MANIFEST_NAME = "arena.json"
INIT_NAME = "init.safetensors"
DATA_DIR = "data"
INCOMPLETE_SUFFIX = ".incomplete"
METRIC_PREFIX = "metric."
REQUIRED_KEYS = (
    "format", "name", "version", "source", "signal", "field", "fit", "splits", "builder",
)
OPTIONAL_KEYS = ("license", "citation", "stats", "created", "init")
SCHEMA_ID = "arena-manifest/1"
MAX_MANIFEST_BYTES = 16 * 2**20  # built manifests are kilobytes; this bounds what is parsed
MAX_MANIFEST_DEPTH = 64  # built manifests nest arrays and objects 5 deep

PathLike = Union[str, os.PathLike]

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # the registry's dataset name rule (arena.hub)
_SPLIT_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_METRIC_RE = re.compile(r"^[A-Za-z0-9_]+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")
_MAX_HEADER_BYTES = 100 * 2**20
_HASH_CHUNK = 2**20
_MAX_SHARDS = 99999
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


# --------------------------------------------------------------------------------------------
# Writing


def shard_name(split: str, i: int, count: int) -> str:
    """The relative path of shard ``i`` of ``count`` of a split.

    Args:
        split: the split name, lower case letters, digits and ``_`` (``"train"``).
        i: the shard's position, ``0 <= i < count``.
        count: how many shards the split has, at most 99,999.

    Returns:
        ``"data/{split}-{i:05d}-of-{count:05d}.safetensors"``.
    """
    _check_split_name(split)
    if not 1 <= count <= _MAX_SHARDS:
        raise ConfigError(f"A split has 1 to {_MAX_SHARDS} shards; got count={count}.")
    if not 0 <= i < count:
        raise ConfigError(f"Shard index {i} is out of range for {count} shards (0..{count - 1}).")
    return f"{DATA_DIR}/{split}-{i:05d}-of-{count:05d}.safetensors"


def write_shard(
    path: PathLike,
    params: np.ndarray,
    label: np.ndarray,
    index: np.ndarray,
    metrics: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write one shard atomically and deterministically.

    Args:
        path: the shard's file, usually ``root / shard_name(split, i, count)``; missing parent
            directories are created.
        params: ``(n, P)`` float32, one flattened NeF per row.
        label: ``(n,)`` integers (stored as int64; any integer dtype that fits is accepted).
        index: ``(n,)`` integers, each row's position in the source dataset (stored as int64).
        metrics: ``{name: (n,) float32}`` per-NeF fit metrics, stored as ``metric.<name>``.

    Returns:
        The path written.
    """
    tensors = _shard_tensors(params, label, index, metrics or {})
    return _atomic_write(Path(path), lambda tmp: _write_safetensors(tmp, tensors))


def write_init(path: PathLike, params: np.ndarray) -> Path:
    """Write the shared initialisation ``(P,)`` float32 as tensor ``params``, atomically.

    Args:
        path: the file, usually ``root / INIT_NAME``.
        params: ``(P,)`` float32, flattened in the dataset's layout order.

    Returns:
        The path written.
    """
    arr = _float32("params", params)
    if arr.ndim != 1:
        raise ConfigError(
            f"The initialisation must be one flat vector (P,); got shape {arr.shape}."
        )
    tensors = {"params": np.ascontiguousarray(arr)}
    return _atomic_write(Path(path), lambda tmp: _write_safetensors(tmp, tensors))


def _shard_tensors(
    params, label, index, metrics: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    p = _float32("params", params)
    if p.ndim != 2:
        raise ConfigError(f"params must have shape (n, P); got {p.shape}.")
    n = p.shape[0]
    tensors = {"params": p, "label": _int64("label", label, n), "index": _int64("index", index, n)}
    for name, values in metrics.items():
        if not isinstance(name, str) or not _METRIC_RE.fullmatch(name):
            raise ConfigError(
                f"Metric name {name!r} is invalid; use letters, digits and '_' (e.g. 'psnr')."
            )
        m = _float32(f"metric '{name}'", values)
        if m.shape != (n,):
            raise ConfigError(f"metric '{name}' must have shape ({n},) like params; got {m.shape}.")
        tensors[METRIC_PREFIX + name] = m
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}


def _float32(what: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != np.float32:
        raise ConfigError(
            f"{what} must be float32; got {arr.dtype}. Convert it with .astype(np.float32) first."
        )
    return arr


def _int64(what: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if not np.issubdtype(arr.dtype, np.integer) or not np.can_cast(arr.dtype, np.int64):
        raise ConfigError(f"{what} must hold integers that fit int64; got dtype {arr.dtype}.")
    if arr.shape != (n,):
        raise ConfigError(f"{what} must have shape ({n},) like params; got {arr.shape}.")
    return arr.astype(np.int64, copy=False)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    # Serialise in memory and write the bytes here: safetensors' save_file writes through a
    # temporary file of its own (".tmpXXXXXX" beside the target), which a killed build left
    # behind in data/, where a resumed build neither expects nor removes it.
    Path(path).write_bytes(safetensors.numpy.save(tensors))


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see :func:`_atomic_write`); the one
    atomic writer of the package's small files: manifests, results, cards, rendered pages."""
    return _atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Write through ``<name>.incomplete`` in the same directory, fsync, then rename.

    An ``OSError`` (disk full, no permission) becomes a :class:`WriteError` naming ``path``;
    whatever fails, the temporary file is removed and ``path`` is left as it was.
    """
    tmp = path.with_name(path.name + INCOMPLETE_SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # datasets are shared, whatever mode a writer used
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ArenaError):
            raise _write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "Free space on that disk (or write somewhere else) and run the command again."
    else:
        fix = "Check that its directory exists and is writable, then run the command again."
    error = WriteError(f"Could not write {path}: {reason}. Nothing was written there. {fix}")
    error.errno = exc.errno
    return error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Checksums and file entries


def sha256_file(path: PathLike) -> str:
    """The lower-case hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(root: PathLike, relpath: str) -> dict[str, Any]:
    """The manifest entry of one file of a dataset.

    Args:
        root: the dataset directory.
        relpath: the file's path relative to ``root``, with ``/`` separators.

    Returns:
        ``{"path", "bytes", "sha256"}``, plus ``"num_examples"`` when the file is a shard
        (a safetensors file whose ``params`` has two dimensions).
    """
    _check_relpath(relpath, "file_entry")
    path = Path(root) / relpath
    entry: dict[str, Any] = {
        "path": relpath,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    if relpath.endswith(".safetensors"):
        info = _read_header(path).get("params")
        if info is not None and len(info.shape) == 2:
            entry["num_examples"] = info.shape[0]
    return entry


def split_entry(root: PathLike, relpaths: Sequence[str]) -> dict[str, Any]:
    """The manifest entry of one split: ``{"num_examples", "files"}`` from its shards.

    Args:
        root: the dataset directory.
        relpaths: the split's shard paths relative to ``root``, in order.

    Returns:
        ``{"num_examples": total, "files": [file_entry(root, p) for p in relpaths]}``.
    """
    files = [file_entry(root, p) for p in relpaths]
    missing = [f["path"] for f in files if "num_examples" not in f]
    if missing:
        raise ShardError(f"These files are not shards (no (n, P) 'params' tensor): {missing}.")
    return {"num_examples": sum(f["num_examples"] for f in files), "files": files}


# --------------------------------------------------------------------------------------------
# The manifest


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One file listed in a manifest.

    Attributes:
        path: relative to the dataset directory, ``/`` separated and normalised.
        bytes: the file's size.
        sha256: the lower-case hex sha256 of its bytes.
        num_examples: rows in the file, for shards.
    """

    path: str
    bytes: int
    sha256: str
    num_examples: int | None = None


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A validated ``arena.json``: a thin typed wrapper around its JSON object.

    Construction validates the document: the format version (``"arena/1"``), the required keys,
    the field's layout against ``num_params``, the splits and every listed file path. ``data``
    holds a private copy in its canonical JSON form; use :meth:`to_dict` for an editable one.

    Args:
        data: the manifest as a JSON-compatible mapping (numpy scalars are refused: convert
            them with ``float()`` / ``.tolist()``).
        source: where it came from, for error messages.
    """

    data: Mapping[str, Any]
    source: str = dataclasses.field(default=MANIFEST_NAME, compare=False)
    FORMAT: ClassVar[str] = FORMAT

    def __post_init__(self) -> None:
        text = _dumps(self.data, self.source)
        _check_bounds(text.encode("utf-8"), self.source)
        canonical = json.loads(text)
        _validate_manifest(canonical, self.source)
        object.__setattr__(self, "data", canonical)

    def __hash__(self) -> int:
        return hash(self.dumps())

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = MANIFEST_NAME) -> Manifest:
        """Parse and validate a manifest from its JSON text.

        The text is refused before parsing when it is larger than ``MAX_MANIFEST_BYTES`` or
        nests arrays and objects deeper than ``MAX_MANIFEST_DEPTH``.
        """
        raw = text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text)
        _check_bounds(raw, source)
        try:
            data = json.loads(text, parse_constant=functools.partial(_refuse_constant, source))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(
                f"{source} is not valid JSON ({exc}); the dataset is damaged."
            ) from exc
        return cls(data, source=source)

    @classmethod
    def load(cls, path: PathLike) -> Manifest:
        """Read a manifest from a dataset directory or from its ``arena.json`` file."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        return cls.from_json(_manifest_bytes(path), source=str(path))

    def dumps(self) -> str:
        """The canonical text: sorted keys, indent 2, UTF-8, one trailing newline."""
        return _dumps(self.data, self.source) + "\n"

    def write(self, root: PathLike) -> Path:
        """Write ``root / arena.json`` atomically and return its path."""
        text = self.dumps().encode("utf-8")
        return _atomic_write(Path(root) / MANIFEST_NAME, lambda tmp: Path(tmp).write_bytes(text))

    def to_dict(self) -> dict[str, Any]:
        """A deep, editable copy of the manifest."""
        return json.loads(_dumps(self.data, self.source))

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def layout(self) -> Layout:
        return Layout.from_json(self.data["field"]["layout"])

    @property
    def num_params(self) -> int:
        return self.data["field"]["num_params"]

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.data["splits"])

    def num_examples(self, split: str) -> int:
        """The number of NeFs in ``split``."""
        return self._split(split)["num_examples"]

    def files(self, split: str) -> tuple[FileEntry, ...]:
        """The shards of ``split``, in order."""
        return tuple(_file_entry(f) for f in self._split(split)["files"])

    @property
    def init_file(self) -> FileEntry | None:
        """The shared initialisation's entry (top-level key ``init``), if the dataset has one."""
        init = self.data.get("init")
        return None if init is None else _file_entry(init)

    def all_files(self) -> tuple[FileEntry, ...]:
        """Every file the manifest lists: the initialisation first, then each split's shards."""
        init = self.init_file
        shards = tuple(f for split in self.splits for f in self.files(split))
        return shards if init is None else (init, *shards)

    def _split(self, split: str) -> Mapping[str, Any]:
        try:
            return self.data["splits"][split]
        except KeyError:
            raise ConfigError(
                f"Dataset '{self.name}' has no split '{split}'; it has {list(self.splits)}."
            ) from None


def _dumps(data: Any, source: str) -> str:
    try:
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ManifestError(
            f"{source} cannot be written as strict JSON ({exc}). Use plain Python numbers, "
            "strings, lists and dicts (convert numpy values with float() or .tolist()); no NaN."
        ) from exc


def _check_bounds(raw: bytes, source: str) -> None:
    """Refuse a manifest too large or too deeply nested to parse safely (no parsing)."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{source} has more than {MAX_MANIFEST_BYTES:,} bytes; a manifest is kilobytes, so "
            "this one is damaged or hostile. Download the dataset again or rebuild it."
        )
    depth = _nesting_depth(raw)
    if depth > MAX_MANIFEST_DEPTH:
        raise ManifestError(
            f"{source} nests arrays and objects {depth:,} deep; a manifest nests at most "
            f"{MAX_MANIFEST_DEPTH}, so this one is damaged or hostile. Download the dataset again "
            "or rebuild it."
        )


_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def _nesting_depth(raw: bytes) -> int:
    """How deep JSON text nests arrays and objects, brackets inside strings ignored.

    Escaped backslashes and quotes are dropped first (they occur only inside strings), so every
    remaining quote opens or closes a string; strings are then dropped and the brackets left
    are counted. Linear in the text's length, with no recursion.
    """
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = re.sub(rb'"[^"]*"', b"", plain).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), np.int32(1), np.int32(-1))
    return int(np.cumsum(steps, dtype=np.int32).max())


def _refuse_constant(source: str, name: str) -> Any:
    raise ManifestError(
        f"{source} holds {name}, which strict JSON does not allow; the dataset is damaged. "
        "Download it again or rebuild it."
    )


def _file_entry(entry: Mapping[str, Any]) -> FileEntry:
    return FileEntry(entry["path"], entry["bytes"], entry["sha256"], entry.get("num_examples"))


def _validate_manifest(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ManifestError(f"{source} must hold a JSON object; got {type(data).__name__}.")
    if "format" not in data:
        raise ManifestError(
            f"{source} has no 'format' key, so it is not an Arena manifest "
            f"(expected \"format\": \"{FORMAT}\")."
        )
    if data["format"] != FORMAT:
        raise UnsupportedFormatError(
            f"{source} is in format {data['format']!r}, but this version of neural-field-arena "
            f"reads only '{FORMAT}'. Upgrade the package: pip install -U neural-field-arena"
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ManifestError(f"{source} is missing the required keys {missing}.")
    for key in ("name", "version"):
        if not isinstance(data[key], str) or not data[key]:
            raise ManifestError(f"{source}: '{key}' must be a non-empty string; got {data[key]!r}.")
    _check_name(data["name"], source)
    if not _SEMVER_RE.fullmatch(data["version"]):
        raise ManifestError(
            f"{source}: 'version' must be a semantic version such as '1.0.0'; "
            f"got {data['version']!r}."
        )
    for key in ("source", "signal", "field", "fit", "builder"):
        _expect_object(data[key], key, source)
    _validate_field(data["field"], source)
    _validate_files(data, source)
    _validate_schema(data, source)
    _validate_classes(data["source"], source)


def _check_name(name: str, source: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ManifestError(
            f"{source}: 'name' is {name!r}, which is not a dataset name. A name decides where the "
            "dataset is stored, so it follows the registry's rule: lower-case letters, digits, "
            "'_', '-' and '.', starting with a letter or digit (e.g. 'neural_mnist'). "
            "Fix the manifest's name or rebuild the dataset."
        )


@functools.cache
def _schema_validator() -> Any:
    import jsonschema

    schema = json.loads(resources.files("arena").joinpath("manifest.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _validate_schema(data: dict, source: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(data))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    described = isinstance(error.schema, dict) and error.validator != "type"
    why = error.schema.get("description") if described else None
    raise ManifestError(
        f"{source}: '{where}' is {_short(repr(error.instance), 80)}, which {SCHEMA_ID} does not "
        f"allow: {_short(error.message, 160)}{f' ({why})' if why else ''}. Fix the manifest, or "
        "download or rebuild the dataset."
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validate_classes(source_block: dict, source: str) -> None:
    names, count = source_block.get("class_names"), source_block.get("num_classes")
    if names is not None and count is not None and len(names) != count:
        raise ManifestError(
            f"{source}: 'source.class_names' names {len(names)} classes but 'source.num_classes' "
            f"is {count}; the manifest is inconsistent. Fix one of them or rebuild the dataset."
        )


def _class_count(manifest: Manifest) -> int | None:
    """The class count: ``source.num_classes``, else the length of ``source.class_names``."""
    block = manifest.data["source"]
    if block.get("num_classes") is not None:
        return block["num_classes"]
    names = block.get("class_names")
    return None if names is None else len(names)


def _expect_object(value: Any, where: str, source: str) -> None:
    if not isinstance(value, dict):
        raise ManifestError(f"{source}: '{where}' must be a JSON object; got {value!r}.")


def _validate_field(field: dict, source: str) -> None:
    for key in ("layout", "num_params"):
        if key not in field:
            raise ManifestError(f"{source}: 'field' is missing the required key '{key}'.")
    try:
        layout = Layout.from_json(field["layout"])
    except ArenaError as exc:
        raise ManifestError(f"{source}: 'field.layout' is invalid: {exc}") from exc
    num_params = field["num_params"]
    if not _is_int(num_params) or num_params != layout.num_params:
        raise ManifestError(
            f"{source}: 'field.num_params' is {num_params!r} but the layout holds "
            f"{layout.num_params} parameters; the manifest is inconsistent."
        )
    kernel = field.get("kernel", KERNEL_ORIENTATION)
    if kernel != KERNEL_ORIENTATION:
        raise ManifestError(
            f"{source}: 'field.kernel' is {kernel!r}; "
            f"format {FORMAT} stores '{KERNEL_ORIENTATION}'."
        )


def _validate_files(data: dict, source: str) -> None:
    splits = data["splits"]
    if not isinstance(splits, dict) or not splits:
        raise ManifestError(f"{source}: 'splits' must be a non-empty JSON object; got {splits!r}.")
    seen: set[str] = set()
    if data.get("init") is not None:
        _validate_entry(data["init"], "init", source, seen)
    for split, spec in splits.items():
        _validate_split(split, spec, source, seen)


def _validate_split(split: str, spec: Any, source: str, seen: set[str]) -> None:
    where = f"splits.{split}"
    if not _SPLIT_RE.fullmatch(split):
        raise ManifestError(
            f"{source}: split name {split!r} is invalid; use lower-case letters, digits and '_'."
        )
    _expect_object(spec, where, source)
    total, files = spec.get("num_examples"), spec.get("files")
    if not _is_int(total) or total < 0:
        raise ManifestError(
            f"{source}: '{where}.num_examples' must be an integer >= 0; got {total!r}."
        )
    if not isinstance(files, list):
        raise ManifestError(f"{source}: '{where}.files' must be a list; got {files!r}.")
    for i, entry in enumerate(files):
        _validate_entry(entry, f"{where}.files[{i}]", source, seen)
    counts = [entry.get("num_examples") for entry in files]
    if files and all(c is not None for c in counts) and sum(counts) != total:
        raise ManifestError(
            f"{source}: the files of split '{split}' hold {sum(counts)} examples, "
            f"but '{where}.num_examples' is {total}."
        )


def _validate_entry(entry: Any, where: str, source: str, seen: set[str]) -> None:
    _expect_object(entry, where, source)
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise ManifestError(f"{source}: '{where}.path' must be a non-empty string; got {path!r}.")
    _check_relpath(path, source)
    if path in seen:
        raise ManifestError(f"{source} lists the file '{path}' twice.")
    seen.add(path)
    size, digest, count = entry.get("bytes"), entry.get("sha256"), entry.get("num_examples")
    if not _is_int(size) or size < 0:
        raise ManifestError(f"{source}: '{where}.bytes' must be an integer >= 0; got {size!r}.")
    if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
        raise ManifestError(
            f"{source}: '{where}.sha256' must be 64 lower-case hex digits; got {digest!r}."
        )
    if count is not None and (not _is_int(count) or count < 0):
        raise ManifestError(
            f"{source}: '{where}.num_examples' must be an integer >= 0; got {count!r}."
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_split_name(split: str) -> None:
    if not isinstance(split, str) or not _SPLIT_RE.fullmatch(split):
        raise ConfigError(
            f"Split name {split!r} is invalid; "
            "use lower-case letters, digits and '_' (e.g. 'train')."
        )


def _check_relpath(path: str, source: str) -> None:
    """Refuse a listed path unless it is relative, normalised and inside the dataset."""
    parts = path.split("/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        reason = "is absolute"
    elif ".." in parts:
        reason = "leaves the dataset directory"
    elif "\\" in path or "\x00" in path or any(p in ("", ".") for p in parts):
        reason = "is not a normalised '/'-separated path"
    else:
        return
    raise UnsafePathError(
        f"{source} lists the file path {path!r}, which {reason}; refusing to read it. Listed paths "
        "must be relative and inside the dataset (e.g. 'data/train-00000-of-00001.safetensors')."
    )


# --------------------------------------------------------------------------------------------
# Opening and verifying a dataset


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
    files = _load(Path(root))
    for entry in files.manifest.all_files():
        problem = _file_problem(files.root, entry, checksum=verify)
        if problem is not None:
            raise problem
    return files


def verify(root: PathLike) -> list[ArenaError]:
    """Re-hash every file a dataset's manifest lists, check what they hold, return every problem.

    Beyond the sha256 of each file, the files that hash correctly are read (labels and indices
    only; parameters are memory-mapped, not read): each shard's tensors and row count against
    its entry, each split's total against ``num_examples``, the initialisation's shape, every
    label against the class count, and the source indices for leakage (an index twice in a
    split, or in two splits).

    Args:
        root: the dataset directory.

    Returns:
        One error per problem: bad files (missing, wrong size or wrong sha256) in manifest
        order, then what their contents break; empty when the dataset is intact. Each message
        names its file or split.

    Raises:
        UnsupportedFormatError, ManifestError, UnsafePathError: when the manifest itself cannot
            be used (then no file is read).
    """
    files = _load(Path(root))
    problems, intact = [], set()
    for entry in files.manifest.all_files():
        problem = _file_problem(files.root, entry, checksum=True)
        if problem is None:
            intact.add(entry.path)
        else:
            problems.append(problem)
    return problems + _content_problems(files, intact)


def check_labels(
    labels: np.ndarray,
    num_classes: int | None,
    *,
    where: str,
    fix: str = "The labels or the class count are wrong: rebuild the dataset or download it again.",
) -> None:
    """Raise :class:`DatasetContentError` when a label is outside ``0 .. num_classes - 1``.

    Args:
        labels: integer class labels.
        num_classes: the class count; ``None`` checks only that labels are ``>= 0``.
        where: what holds the labels, for the message (a shard's path, a source).
        fix: the message's last sentence: what to do.
    """
    labels = np.asarray(labels)
    high = np.iinfo(np.int64).max if num_classes is None else num_classes
    bad = np.flatnonzero((labels < 0) | (labels >= high))
    if bad.size == 0:
        return
    valid = "0 or more" if num_classes is None else f"0 to {num_classes - 1}, {num_classes} classes"
    raise DatasetContentError(
        f"{where} has {bad.size} label(s) outside the valid range ({valid}), e.g. "
        f"{int(labels[bad[0]])} at row {int(bad[0])}. {fix}"
    )


def _content_problems(files: DatasetFiles, intact: set[str]) -> list[ArenaError]:
    """What hashing cannot find, in the files that hashed correctly."""
    problems: list[ArenaError] = []
    init = files.manifest.init_file
    if init is not None and init.path in intact:
        problems += _caught(read_init, files)
    indices = {}
    for split in files.manifest.splits:
        if all(e.path in intact for e in files.manifest.files(split)):
            found, index = _split_problems(files, split)
            problems += found
            if index is not None:
                indices[split] = index
    return problems + _leakage(files.root, indices)


def _split_problems(files: DatasetFiles, split: str) -> tuple[list[ArenaError], np.ndarray | None]:
    """A split's row counts and labels; its source indices when its shards could be read."""
    try:
        parts = _read_parts(files, split, mmap=True)
    except ArenaError as exc:
        return [exc], None
    count = _class_count(files.manifest)
    problems = []
    for entry, (_, label, _, _) in zip(files.manifest.files(split), parts):
        problems += _caught(check_labels, label, count, where=f"'{entry.path}' in {files.root}")
    index = np.concatenate([index for _, _, index, _ in parts]) if parts else np.zeros(0, np.int64)
    return problems, index


def _caught(check: Callable[..., object], *args, **kwargs) -> list[ArenaError]:
    try:
        check(*args, **kwargs)
    except ArenaError as exc:
        return [exc]
    return []


def _leakage(root: Path, indices: Mapping[str, np.ndarray]) -> list[ArenaError]:
    """A source index twice in one split, or in two splits: the same example would leak."""
    problems: list[ArenaError] = []
    for split, index in indices.items():
        values, counts = np.unique(index, return_counts=True)
        repeated = values[counts > 1]
        if repeated.size:
            problems.append(DatasetContentError(
                f"Split '{split}' of {root} holds {repeated.size} source index(es) more than once, "
                f"e.g. {int(repeated[0])} ({int(counts[counts > 1][0])} times): one example's NeFs "
                "are counted twice. Rebuild the dataset."
            ))
    order = {"train": 0, "val": 1, "test": 2}
    for a, b in itertools.combinations(sorted(indices, key=lambda s: (order.get(s, 3), s)), 2):
        shared = np.intersect1d(indices[a], indices[b])
        if shared.size:
            problems.append(DatasetContentError(
                f"Splits '{a}' and '{b}' of {root} share {shared.size} source index(es), e.g. "
                f"{int(shared[0])}: the same example is in both, so results would leak between "
                "them. Rebuild the dataset."
            ))
    return problems


def check_file(root: PathLike, entry: FileEntry, *, checksum: bool = True) -> None:
    """Raise the problem with one listed file, if any (use after fetching it).

    Args:
        root: the dataset directory.
        entry: the file's manifest entry.
        checksum: also compare the sha256, not only the size.
    """
    problem = _file_problem(Path(root), entry, checksum=checksum)
    if problem is not None:
        raise problem


def _manifest_bytes(path: Path) -> bytes:
    """The manifest's bytes, at most ``MAX_MANIFEST_BYTES + 1`` (then ``_check_bounds`` refuses it)."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_MANIFEST_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise MissingFileError(
            f"No manifest at {path}: this is not an Arena dataset directory."
        ) from exc
    except IsADirectoryError as exc:
        raise ManifestError(
            f"{path} is a directory, not a manifest file: the dataset is damaged. "
            "Download it again or rebuild it."
        ) from exc
    except OSError as exc:
        raise ManifestError(
            f"Cannot read the manifest {path} ({exc.strerror or exc}); check its permissions."
        ) from exc


def _load(root: Path) -> DatasetFiles:
    path = root / MANIFEST_NAME
    text = _manifest_bytes(path)
    manifest = Manifest.from_json(text, source=str(path))
    return DatasetFiles(root, manifest, hashlib.sha256(text).hexdigest())


def _file_problem(root: Path, entry: FileEntry, *, checksum: bool) -> ArenaError | None:
    _check_relpath(entry.path, str(root / MANIFEST_NAME))
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


# --------------------------------------------------------------------------------------------
# Reading safetensors files with numpy


@dataclasses.dataclass(frozen=True)
class _Tensor:
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int  # absolute, in bytes from the start of the file
    nbytes: int


def _read_header(path: Path) -> dict[str, _Tensor]:
    """Parse a safetensors header and check that the data section matches it exactly."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise ShardError(f"{path} is not a safetensors file: it has only {size} bytes.")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(_MAX_HEADER_BYTES, size - 8):
            raise ShardError(
                f"{path} is not a valid safetensors file: its header length {length} does not "
                f"fit in the file's {size} bytes."
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardError(f"{path} has an unreadable safetensors header ({exc}).") from exc
    if not isinstance(header, dict):
        raise ShardError(f"{path} has a safetensors header that is not a JSON object.")
    header.pop("__metadata__", None)
    tensors = {name: _tensor(path, name, spec, 8 + length) for name, spec in header.items()}
    _check_data_section(path, tensors, size - 8 - length, 8 + length)
    return tensors


def _tensor(path: Path, name: str, spec: Any, data_start: int) -> _Tensor:
    try:
        dtype = _DTYPES[spec["dtype"]]
        shape = tuple(int(d) for d in spec["shape"])
        begin, end = (int(o) for o in spec["data_offsets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(
            f"{path}: tensor '{name}' has an unsupported or malformed entry {spec!r}."
        ) from exc
    if any(d < 0 for d in shape) or not 0 <= begin <= end:
        raise ShardError(f"{path}: tensor '{name}' has an invalid shape or offsets: {spec!r}.")
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise ShardError(
            f"{path}: tensor '{name}' spans {end - begin} bytes, but {spec['dtype']} "
            f"{list(shape)} needs {math.prod(shape) * dtype.itemsize}."
        )
    return _Tensor(dtype, shape, data_start + begin, end - begin)


def _check_data_section(
    path: Path, tensors: dict[str, _Tensor], data_bytes: int, start: int
) -> None:
    cursor = start
    for t in sorted(tensors.values(), key=lambda t: (t.offset, t.nbytes)):
        if t.offset != cursor:
            raise ShardError(
                f"{path}: the tensors in its safetensors header overlap or leave gaps."
            )
        cursor += t.nbytes
    if cursor - start != data_bytes:
        raise ShardError(
            f"{path} holds {data_bytes} bytes of tensor data, but its header describes "
            f"{cursor - start}: the file is truncated or damaged."
        )


def _load_tensor(path: Path, t: _Tensor, *, mmap: bool) -> np.ndarray:
    if t.nbytes == 0:
        return np.zeros(t.shape, t.dtype)
    if mmap:
        return np.memmap(path, dtype=t.dtype, mode="r", offset=t.offset, shape=t.shape)
    with open(path, "rb") as f:
        f.seek(t.offset)
        return np.fromfile(f, dtype=t.dtype, count=math.prod(t.shape)).reshape(t.shape)


def shard_arrays(path: PathLike, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as numpy arrays.

    Args:
        path: the file.
        mmap: return read-only ``np.memmap`` views (nothing is read until used) instead of
            arrays loaded into memory. Empty tensors are always plain arrays.

    Returns:
        ``{name: array}`` in the file's dtypes and shapes (little-endian).
    """
    path = Path(path)
    return {name: _load_tensor(path, t, mmap=mmap) for name, t in _read_header(path).items()}


def _shard_layout(
    path: Path, tensors: Mapping[str, _Tensor], num_params: int | None
) -> tuple[int, tuple[str, ...]]:
    """Check a shard's tensors; return its row count and metric names."""
    params = tensors.get("params")
    if params is None or params.dtype != np.float32 or len(params.shape) != 2:
        raise ShardError(
            f"{path} is not an Arena shard: it needs a float32 (n, P) tensor 'params'."
        )
    n, p = params.shape
    if num_params is not None and p != num_params:
        raise ShardError(
            f"{path} holds {p} parameters per row; the manifest's layout has {num_params}."
        )
    expected = {"label": np.dtype("<i8"), "index": np.dtype("<i8")}
    metrics = tuple(sorted(k[len(METRIC_PREFIX):] for k in tensors if k.startswith(METRIC_PREFIX)))
    expected.update({METRIC_PREFIX + m: np.dtype("<f4") for m in metrics})
    for name, dtype in expected.items():
        t = tensors.get(name)
        if t is None or t.dtype != dtype or t.shape != (n,):
            raise ShardError(f"{path} is not an Arena shard: '{name}' must be {dtype.name} ({n},).")
    return n, metrics


def completed_shards(
    root: PathLike, split: str, count: int, *, num_params: int | None = None
) -> set[int]:
    """The shards of a split that a resumed build can keep.

    A shard counts when its final file exists, its safetensors header parses, the file's size
    matches the header exactly and it holds the tensors of the format. ``.incomplete`` files
    are ignored, not removed (another process may be writing one); the next write of that
    shard overwrites it.

    Args:
        root: the dataset directory being built.
        split: the split name.
        count: the number of shards the split is built in.
        num_params: if given, a shard must also have this many parameters per row.

    Returns:
        The indices ``i`` of the complete shards.
    """
    root = Path(root)
    done = set()
    for i in range(count):
        path = root / shard_name(split, i, count)
        try:
            _shard_layout(path, _read_header(path), num_params)
        except (OSError, ShardError):
            continue
        done.add(i)
    return done


# --------------------------------------------------------------------------------------------
# Reading splits


class ShardedArray:
    """The rows of several arrays, viewed as one ``(N, ...)`` array without copying.

    Indexing by an integer returns a view of that row in its shard; any other row selection
    (slice, integer array, boolean mask) gathers the selected rows into a new array, reading
    only them. ``np.asarray`` concatenates everything.

    Args:
        parts: arrays with equal dtypes and equal trailing shapes, in row order.
    """

    def __init__(self, parts: Sequence[np.ndarray]):
        if not parts:
            raise ConfigError("A ShardedArray needs at least one part.")
        first = parts[0]
        for part in parts:
            if part.dtype != first.dtype or part.shape[1:] != first.shape[1:]:
                raise ShardError(
                    f"Shards disagree: {part.dtype} {part.shape} vs {first.dtype} {first.shape}."
                )
        self._parts = tuple(parts)
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    @property
    def parts(self) -> tuple[np.ndarray, ...]:
        return self._parts

    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self._offsets[-1]), *self._parts[0].shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._parts[0].dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        for part in self._parts:
            yield from part

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("A ShardedArray cannot become one ndarray without copying.")
        out = np.concatenate(self._parts)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if isinstance(rows, (int, np.integer)):
            return self._row(int(rows))[rest]
        selected = np.arange(len(self))[rows]
        out = self._take(selected.ravel()).reshape(*selected.shape, *self.shape[1:])
        return out[(slice(None),) * selected.ndim + rest] if rest else out

    def _row(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"Row {i} is out of range for {n} rows.")
        i %= n
        s = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return self._parts[s][i - self._offsets[s]]

    def _take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        shard = np.searchsorted(self._offsets, rows, side="right") - 1
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self._parts[s][rows[sel] - self._offsets[s]]
        return out

    def __repr__(self) -> str:
        return f"ShardedArray(shape={self.shape}, dtype={self.dtype}, parts={len(self._parts)})"


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


def dataset_stats(root: PathLike, shard_files: Mapping[str, Sequence[str]], layout: Layout) -> tuple[dict, dict]:
    """The manifest's ``stats``: per-split metric means, and per-tensor parameter mean and std over train.

    Args:
        root: the dataset directory.
        shard_files: ``{split: [shard paths relative to root]}``; parameter statistics are over
            ``"train"`` (or the first split when there is no train split).
        layout: the field's parameter layout.

    Returns:
        ``(metrics, params)``: ``{split: {metric: mean}}`` and ``{"per_layer_mean",
        "per_layer_std", "layers"}`` (the tensors in layout order).
    """
    root = Path(root)
    metrics = {}
    for split, names in shard_files.items():
        arrays = [shard_arrays(root / n) for n in names]
        keys = sorted(k for k in arrays[0] if k.startswith(METRIC_PREFIX))
        metrics[split] = {
            k.removeprefix(METRIC_PREFIX): round(float(np.concatenate([a[k] for a in arrays]).mean()), 4)
            for k in keys
        }
    sums = np.zeros(layout.num_params, np.float64)
    sq = np.zeros(layout.num_params, np.float64)
    n = 0
    for name in shard_files.get("train", next(iter(shard_files.values()))):
        x = np.asarray(shard_arrays(root / name)["params"], np.float64)
        sums, sq, n = sums + x.sum(0), sq + (x * x).sum(0), n + len(x)
    means, stds = [], []
    for entry, _ in layout:
        sl = layout.slice(entry)
        m = sums[sl].sum() / (n * (sl.stop - sl.start))
        means.append(round(float(m), 6))
        stds.append(round(float(np.sqrt(max(sq[sl].sum() / (n * (sl.stop - sl.start)) - m * m, 0.0))), 6))
    return metrics, {"per_layer_mean": means, "per_layer_std": stds, "layers": list(layout.names)}


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
    return _assemble(_read_parts(files, split, mmap=mmap), files.manifest.num_params, mmap=mmap)


def _read_parts(files: DatasetFiles, split: str, *, mmap: bool) -> list[tuple]:
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
    return dataset if isinstance(dataset, DatasetFiles) else _load(Path(dataset))


def _read_shard(
    path: Path, entry: FileEntry, num_params: int, *, mmap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    header = _read_header(path)
    n, metrics = _shard_layout(path, header, num_params)
    if entry.num_examples is not None and n != entry.num_examples:
        raise ShardError(f"{path} holds {n} rows; the manifest lists {entry.num_examples}.")
    params = _load_tensor(path, header["params"], mmap=mmap)
    label = _load_tensor(path, header["label"], mmap=False)
    index = _load_tensor(path, header["index"], mmap=False)
    values = {m: _load_tensor(path, header[METRIC_PREFIX + m], mmap=False) for m in metrics}
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
    tensors = _read_header(path)
    params = tensors.get("params")
    if params is None or params.dtype != np.float32 or params.shape != (files.manifest.num_params,):
        raise ShardError(
            f"{path} must hold a float32 tensor 'params' of shape ({files.manifest.num_params},)."
        )
    return _load_tensor(path, params, mmap=False)
