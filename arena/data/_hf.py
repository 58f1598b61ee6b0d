"""A split as a Hugging Face ``datasets.Dataset``, and back.

One row per NeF, columns:

- ``params``: ``List(Value("float32"), length=P)``, stored as Arrow ``fixed_size_list<float>[P]``,
  the flat parameters in layout order (:attr:`arena.data.Split.layout`).
- ``label``: ``ClassLabel`` with the dataset's class names.
- ``index``: ``int64``, the NeF's position in the source dataset.
- one ``float32`` column per fit metric (``psnr``, ``psnr_offgrid``, ``iou``, ...).

``params`` is a fixed-length list rather than an ``Array2D``: it is a plain Arrow type, so the
Parquet files of ``arena export`` keep it as a list of floats that pyarrow, pandas, DuckDB and the
Hub's dataset viewer read without the ``datasets`` extension types, ``load_dataset`` gives it
back with its length, and ``ds.with_format("numpy")`` gives ``(N, P)`` rows. An ``Array2D`` would
need a dummy axis for one flat vector and an extension type that only ``datasets`` understands.

The table is built from the split's arrays without a per-row loop and without copying: each shard
of ``params`` (a memory map) becomes one Arrow chunk that points at it. The manifest travels in
``info.description`` as the text of ``arena.json``, so a split read back from the ``Dataset`` has
the same manifest and the same ``manifest_sha256``.

Imported only by :meth:`arena.data.Split.to_hf`, :func:`arena.load` on a ``datasets`` object and
:mod:`arena.export`; it needs the ``hf`` extra (``datasets``, which brings ``pyarrow``).
"""

from __future__ import annotations

import hashlib
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from arena import format as fmt
from arena.errors import ConfigError, require

if TYPE_CHECKING:
    from arena.data._split import Split

PARAMS, LABEL, INDEX = "params", "label", "index"
COLUMNS = (PARAMS, LABEL, INDEX)
_NO_MANIFEST = (
    "This datasets.Dataset carries no Arena manifest in info.description (split.to_hf() puts "
    "arena.json there; load_dataset on an `arena export` directory does not keep it). Set it "
    "first: ds.info.description = Path(EXPORT_DIR, 'arena.json').read_text()"
)


def _datasets(purpose: str):
    return require("datasets", "hf", purpose)


def features(split: Split):
    """The ``datasets.Features`` of ``split``'s rows: params, label, index, then its metrics."""
    datasets = _datasets("Hugging Face features")
    columns = {
        PARAMS: datasets.List(datasets.Value("float32"), length=split.num_params),
        LABEL: datasets.ClassLabel(names=list(split.class_names)),
        INDEX: datasets.Value("int64"),
    }
    for name in split._arrays.metrics:
        if name in columns:
            raise ConfigError(
                f"Metric '{name}' has the name of a column the export needs ({', '.join(COLUMNS)}); "
                "rename the metric."
            )
        columns[name] = datasets.Value("float32")
    return datasets.Features(columns)


def arrow_table(split: Split, start: int = 0, stop: int | None = None):
    """Rows ``start:stop`` of ``split`` as a ``pyarrow.Table`` with :func:`features`' schema.

    ``params`` is one Arrow chunk per shard, each a view of the shard's memory map (no copy).
    The schema's metadata holds the features, as ``datasets`` writes them, so a Parquet file of
    this table reads back with its ``ClassLabel``.
    """
    import pyarrow as pa

    schema = features(split).arrow_schema
    arrays = split._arrays
    stop = len(split) if stop is None else stop
    chunks = [_fixed_size_list(part, split.num_params) for part in _params_parts(split, start, stop)]
    columns = {
        PARAMS: pa.chunked_array(chunks, type=schema.field(PARAMS).type),
        LABEL: pa.array(arrays.label[start:stop], pa.int64()),
        INDEX: pa.array(arrays.index[start:stop], pa.int64()),
        **{k: pa.array(v[start:stop], pa.float32()) for k, v in arrays.metrics.items()},
    }
    return pa.table(columns, schema=schema)


def _params_parts(split: Split, start: int, stop: int) -> list[np.ndarray]:
    """The rows ``start:stop`` of ``params`` as views of the shards they lie in."""
    parts = []
    for part, offset in zip(split._parts, split._offsets[:-1]):
        lo, hi = max(start - offset, 0), min(stop - offset, len(part))
        if lo < hi:
            parts.append(part[lo:hi])
    return parts


def _fixed_size_list(rows: np.ndarray, width: int):
    import pyarrow as pa

    flat = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), width)


def to_hf(split: Split):
    """``split`` as a ``datasets.Dataset`` (see the module docstring for its columns)."""
    datasets = _datasets("Split.to_hf()")
    manifest = split.info
    info = datasets.DatasetInfo(
        description=_manifest_text(split),
        citation=manifest.citation or "",
        license=manifest.license or "",
        features=features(split),
        dataset_name=manifest.name,
    )
    # the manifest's sha256 names every file's content, so it and the split identify the rows;
    # a fingerprint given here spares datasets hashing the whole table
    tag = f"{split.manifest_sha256}:{split.name}:{len(split)}".encode()
    return datasets.Dataset(arrow_table(split), info=info, split=datasets.NamedSplit(split.name),
                            fingerprint=hashlib.sha256(tag).hexdigest()[:16])


def _manifest_text(split: Split) -> str:
    """``arena.json``'s text as it was hashed when the split was opened, so the sha256 carries over."""
    if split.root is not None:
        raw = (split.root / fmt.MANIFEST_NAME).read_bytes()
        if hashlib.sha256(raw).hexdigest() == split.manifest_sha256:
            return raw.decode("utf-8")
    return split.info.dumps()


# --------------------------------------------------------------------------------------------
# Back from datasets


def is_hf(obj: Any) -> bool:
    """Whether ``obj`` is a ``datasets.Dataset`` or ``DatasetDict`` (without importing datasets)."""
    datasets = sys.modules.get("datasets")
    return datasets is not None and isinstance(obj, (datasets.Dataset, datasets.DatasetDict))


def load(obj, split: str | None, version: str | None) -> Split | dict[str, Split]:
    """The :class:`Split` (or ``{name: Split}``) a ``Dataset`` / ``DatasetDict`` holds.

    A ``Dataset`` gives one split, named by ``split`` or by the ``Dataset``'s own split; a
    ``DatasetDict`` gives every split, or the one named ``split``.
    """
    datasets = sys.modules["datasets"]
    if isinstance(obj, datasets.DatasetDict):
        if split is None:
            return {name: from_hf(ds, name, version=version) for name, ds in obj.items()}
        if split not in obj:
            raise ConfigError(f"The DatasetDict has no split {split!r}; it has: {', '.join(obj)}.")
        return from_hf(obj[split], split, version=version)
    own = None if obj.split is None else str(obj.split)
    if split is not None and own is not None and split != own:
        raise ConfigError(f"This datasets.Dataset is split '{own}', not {split!r}; pass split='{own}'.")
    name = split or own
    if name is None:
        raise ConfigError("This datasets.Dataset does not say which split it is; pass split='train' (or val, test).")
    return from_hf(obj, name, version=version)


def from_hf(ds, name: str, *, version: str | None = None) -> Split:
    """Split ``name`` of the manifest in ``ds.info.description``, with the rows of ``ds``."""
    from arena.data._split import Split

    manifest, sha256 = _manifest(ds)
    if version is not None and manifest.version != version:
        raise ConfigError(
            f"This datasets.Dataset holds {manifest.name} {manifest.version}, not the requested {version}."
        )
    if name not in manifest.splits:
        raise ConfigError(f"{manifest.name} has no split {name!r}; its splits are {', '.join(manifest.splits)}.")
    table = ds.with_format("arrow")[:]  # zero-copy unless rows were selected or shuffled
    arrays = split_arrays(table, manifest, name)
    files = fmt.DatasetFiles(root=None, manifest=manifest, manifest_sha256=sha256)
    return Split(files, name, arrays=arrays)


def _manifest(ds) -> tuple[fmt.Manifest, str]:
    text = ds.info.description or ""
    if not text.lstrip().startswith("{"):
        raise ConfigError(_NO_MANIFEST)
    manifest = fmt.Manifest.from_json(text, source="the datasets.Dataset's info.description")
    return manifest, hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_arrays(table, manifest: fmt.Manifest, name: str) -> fmt.SplitArrays:
    """The :class:`arena.format.SplitArrays` of a table of :func:`arrow_table`'s columns.

    ``params`` stays in Arrow's memory: one view per chunk (a :class:`arena.format.ShardedArray`
    when there are several). Every other column than params, label and index is a metric.
    """
    expected = manifest.num_examples(name)
    if table.num_rows != expected:
        raise ConfigError(
            f"This datasets.Dataset holds {table.num_rows} rows; split '{name}' of {manifest.name} "
            f"{manifest.version} has {expected}. Load the whole split, then select rows with the Split."
        )
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ConfigError(f"This datasets.Dataset has no column {missing[0]!r}; a split needs {', '.join(COLUMNS)}.")
    parts = _params_arrays(table.column(PARAMS), manifest.num_params)
    if not parts:
        params = np.zeros((0, manifest.num_params), np.float32)
    else:
        params = parts[0] if len(parts) == 1 else fmt.ShardedArray(parts)
    metrics = {c: _column(table, c, np.float32) for c in table.column_names if c not in COLUMNS}
    return fmt.SplitArrays(params, _column(table, LABEL, np.int64), _column(table, INDEX, np.int64), metrics)


def _params_arrays(column, width: int) -> list[np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)) \
            or kind.value_type != pa.float32():
        raise ConfigError(f"Column 'params' must hold lists of float32; it is {kind}.")
    if column.null_count:
        raise ConfigError(f"Column 'params' has {column.null_count} empty rows; every NeF needs its parameters.")
    parts = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        if not pa.types.is_fixed_size_list(kind) and pc.any(pc.not_equal(pc.list_value_length(chunk), width)).as_py():
            raise ConfigError(f"Column 'params' has rows whose length is not the dataset's {width} parameters.")
        if pa.types.is_fixed_size_list(kind) and kind.list_size != width:
            raise ConfigError(f"Column 'params' holds {kind.list_size} values per row; the dataset's NeFs have {width}.")
        values = chunk.flatten()
        if values.null_count:
            raise ConfigError("Column 'params' holds missing values; every parameter must be a float32.")
        parts.append(values.to_numpy(zero_copy_only=True).reshape(-1, width))
    return parts


def _column(table, name: str, dtype) -> np.ndarray:
    import pyarrow as pa

    column = table.column(name)
    want = pa.from_numpy_dtype(dtype)
    if column.type != want and name in COLUMNS:
        raise ConfigError(f"Column {name!r} must be {want}; it is {column.type}.")
    if column.type != want:
        raise ConfigError(
            f"Column {name!r} ({column.type}) is not a per-NeF metric (float32); every column but "
            f"{', '.join(COLUMNS)} must be one. Drop it first: ds.remove_columns([{name!r}])."
        )
    if column.null_count:
        raise ConfigError(f"Column {name!r} has {column.null_count} missing values.")
    return column.to_numpy()
