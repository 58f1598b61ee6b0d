"""The manifest ``arena.json``: parsing within bounds, validation, and typed access.

A manifest is refused before it is parsed when it is larger than ``MAX_MANIFEST_BYTES`` or nests
arrays and objects deeper than ``MAX_MANIFEST_DEPTH``; once parsed it is validated against the
JSON Schema ``arena-manifest/1`` (``arena/manifest.schema.json``) and the checks that need code
(the layout against ``num_params``, split and file names, no file listed twice, every listed
path relative and inside the dataset). So every key a reader uses has its type, and code outside
this package reads a manifest through :class:`Manifest`'s accessors, never by indexing its JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from arena.errors import ArenaError, ConfigError, ManifestError, MissingFileError, UnsupportedFormatError
from arena.format._atomic import write_text_atomic
from arena.format._names import FORMAT, MANIFEST_NAME, SPLIT_RE, PathLike, check_relpath
from arena.layout import KERNEL_ORIENTATION, Layout

REQUIRED_KEYS = (
    "format", "name", "version", "source", "signal", "field", "fit", "splits", "builder",
)
OPTIONAL_KEYS = ("license", "citation", "stats", "created", "init")
SCHEMA_ID = "arena-manifest/1"
MAX_MANIFEST_BYTES = 16 * 2**20  # built manifests are kilobytes; this bounds what is parsed
MAX_MANIFEST_DEPTH = 64  # built manifests nest arrays and objects 5 deep

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")  # the registry's dataset name rule (arena.hub)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")


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
class Manifest(Mapping[str, Any]):
    """A validated ``arena.json``: a read-only mapping over its JSON object, with typed accessors.

    Construction validates the document: the format version (``"arena/1"``), the required keys,
    the JSON Schema, the field's layout against ``num_params``, the splits and every listed file
    path. ``manifest["fit"]`` (any top-level key) returns a fresh copy of that value, so the
    manifest itself never changes; :meth:`to_dict` gives an editable copy of the whole. ``data``
    holds the canonical JSON form (treat it as read-only). The accessors below (``name``,
    ``layout``, ``num_classes``, ``signal_kind``, ``fit``, ``metrics``...) are how code reads it.

    Args:
        data: the manifest as a JSON-compatible mapping, or another :class:`Manifest` (numpy
            scalars are refused: convert them with ``float()`` / ``.tolist()``).
        source: where it came from, for error messages.
    """

    data: Mapping[str, Any]
    source: str = dataclasses.field(default=MANIFEST_NAME, compare=False)
    FORMAT: ClassVar[str] = FORMAT

    def __post_init__(self) -> None:
        data = self.data.data if isinstance(self.data, Manifest) else self.data
        text = _dumps(data, self.source)
        _check_bounds(text.encode("utf-8"), self.source)
        canonical = json.loads(text)
        _validate_manifest(canonical, self.source)
        object.__setattr__(self, "data", canonical)

    def __hash__(self) -> int:
        return hash(self.dumps())

    def __getitem__(self, key: str) -> Any:
        return _copy(self.data[key])

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        order = ("train", "val", "test")
        splits = sorted(self.splits, key=lambda s: (order.index(s) if s in order else len(order), s))
        sizes = {s: self.num_examples(s) for s in splits}
        return (f"Manifest(name={self.name!r}, version={self.version!r}, arch={self.arch!r}, "
                f"num_params={self.num_params}, splits={sizes})")

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
        return cls.from_json(manifest_bytes(path), source=str(path))

    def dumps(self) -> str:
        """The canonical text: sorted keys, indent 2, UTF-8, one trailing newline."""
        return _dumps(self.data, self.source) + "\n"

    def write(self, root: PathLike) -> Path:
        """Write ``root / arena.json`` atomically and return its path."""
        return write_text_atomic(Path(root) / MANIFEST_NAME, self.dumps())

    def to_dict(self) -> dict[str, Any]:
        """A deep, editable copy of the manifest."""
        return _copy(self.data)

    # Identity and structure

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def description(self) -> str | None:
        """The top-level ``description``, if any."""
        return self.data.get("description")

    @property
    def license(self) -> str | None:
        """The license identifier (``license``), if any."""
        return self.data.get("license")

    @property
    def citation(self) -> str | None:
        """How to cite the dataset (``citation``, BibTeX), if given."""
        return self.data.get("citation")

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

    # The source signals

    @property
    def source_name(self) -> str | None:
        """The source dataset's name (``source.name``, e.g. ``"mnist"``), if given."""
        return self.data["source"].get("name")

    @property
    def source_origin(self) -> str | None:
        """Where the source dataset comes from (``source.origin``), if given."""
        return self.data["source"].get("origin")

    @property
    def num_classes(self) -> int | None:
        """The class count: ``source.num_classes``, else the length of ``source.class_names``."""
        block = self.data["source"]
        if block.get("num_classes") is not None:
            return block["num_classes"]
        names = block.get("class_names")
        return None if names is None else len(names)

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The name of label ``k`` is ``class_names[k]`` (``source.class_names``), if given."""
        names = self.data["source"].get("class_names")
        return None if names is None else tuple(names)

    @property
    def signal(self) -> dict[str, Any]:
        """A copy of ``signal``: the kind, shape, coordinates and normalisation of the signals."""
        return _copy(self.data["signal"])

    @property
    def signal_kind(self) -> str | None:
        """``"image"``, ``"shape"``... (``signal.kind``), if given."""
        return self.data["signal"].get("kind")

    @property
    def signal_shape(self) -> tuple[int, ...] | None:
        """The shape of one signal (``signal.shape``, ``(H, W, C)`` for images), if given."""
        shape = self.data["signal"].get("shape")
        return None if shape is None else tuple(shape)

    # The field and its fit

    @property
    def layout(self) -> Layout:
        return Layout.from_json(self.data["field"]["layout"])

    @property
    def num_params(self) -> int:
        return self.data["field"]["num_params"]

    @property
    def arch(self) -> str | None:
        """The NeF architecture (``field.arch``: ``"siren"``, ``"rffnet"``, ``"mfn"``), if given."""
        return self.data["field"].get("arch")

    @property
    def hparams(self) -> dict[str, Any]:
        """A copy of the architecture's hyperparameters (``field.hparams``; ``{}`` when absent)."""
        return _copy(self.data["field"].get("hparams") or {})

    @property
    def fit(self) -> dict[str, Any]:
        """A copy of the fit's settings (``fit``: ``loss``, ``optimizer``, ``lr``, ``steps``...)."""
        return _copy(self.data["fit"])

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """The mean fit metrics per split (``stats.metrics``: ``{split: {metric: mean}}``; ``{}``
        when the manifest has none), a copy."""
        return _copy(self.data.get("stats", {}).get("metrics", {}))

    def _split(self, split: str) -> Mapping[str, Any]:
        try:
            return self.data["splits"][split]
        except KeyError:
            raise ConfigError(
                f"Dataset '{self.name}' has no split '{split}'; it has {list(self.splits)}."
            ) from None


def manifest_bytes(path: Path) -> bytes:
    """The manifest's bytes, at most ``MAX_MANIFEST_BYTES + 1`` (then :class:`Manifest` refuses it)."""
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


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (objects, arrays, scalars)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


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
    if not SPLIT_RE.fullmatch(split):
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
    check_relpath(path, source)
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
