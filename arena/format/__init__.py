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
byte-identical files (no timestamps, tensors in a fixed order). The atomic writers here are the
package's one way to write a file or a directory (``write_*_atomic``, ``staged_directory``).

Reading trusts the manifest only: a file it does not list is never read, a listed path that is
absolute, not normalised or leaves the dataset directory is refused, and every listed file is
checked against its size (always) and its sha256 (when asked). The manifest itself is bounded in
size and nesting before it is parsed, and validated against the JSON Schema ``arena-manifest/1``
(``arena/manifest.schema.json``) when it is opened, so every key a reader uses has its type.
Shards are memory-mapped with numpy straight from the safetensors layout (an 8-byte
little-endian header length, a JSON header, then the raw little-endian tensor bytes), so
opening a split reads nothing but headers.

The modules, one idea each: ``_names`` (constants, shard and split names, listed paths),
``_atomic`` (atomic writers), ``_safetensors`` (header reader, memory-mapped tensors),
``_shards`` (writing shards and the initialisation), ``_checksum`` (sha256 and file entries),
``_manifest`` (:class:`Manifest`), ``_open`` (opening a dataset, reading splits),
``_verify`` (:func:`verify`), ``_sharded`` (:class:`ShardedArray`), ``_stats``
(:func:`dataset_stats`). This package needs numpy, safetensors and jsonschema only.

Example:
    >>> write_shard(root / shard_name("train", 0, 1), params, label, index, {"psnr": psnr})
    >>> split = read_split(root, "train")          # after writing arena.json
    >>> split.params[:8]                           # reads eight rows from disk
"""

from __future__ import annotations

from arena.format._atomic import (
    commit_incomplete,
    incomplete_path,
    staged_directory,
    swap_directory,
    write_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from arena.format._checksum import file_entry, sha256_file, split_entry
from arena.format._manifest import (
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_DEPTH,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    SCHEMA_ID,
    FileEntry,
    Manifest,
)
from arena.format._names import (
    DATA_DIR,
    FORMAT,
    INCOMPLETE_SUFFIX,
    INIT_NAME,
    MANIFEST_NAME,
    METRIC_PREFIX,
    PathLike,
    shard_name,
)
from arena.format._open import (
    DatasetFiles,
    SplitArrays,
    check_file,
    open_dataset,
    read_init,
    read_split,
)
from arena.format._safetensors import shard_arrays
from arena.format._sharded import ShardedArray
from arena.format._shards import completed_shards, write_init, write_shard
from arena.format._stats import dataset_stats
from arena.format._verify import check_labels, verify

__all__ = [
    "DATA_DIR",
    "FORMAT",
    "INCOMPLETE_SUFFIX",
    "INIT_NAME",
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_DEPTH",
    "METRIC_PREFIX",
    "OPTIONAL_KEYS",
    "REQUIRED_KEYS",
    "SCHEMA_ID",
    "DatasetFiles",
    "FileEntry",
    "Manifest",
    "PathLike",
    "ShardedArray",
    "SplitArrays",
    "check_file",
    "check_labels",
    "commit_incomplete",
    "completed_shards",
    "dataset_stats",
    "file_entry",
    "incomplete_path",
    "open_dataset",
    "read_init",
    "read_split",
    "sha256_file",
    "shard_arrays",
    "shard_name",
    "split_entry",
    "staged_directory",
    "swap_directory",
    "verify",
    "write_atomic",
    "write_bytes_atomic",
    "write_init",
    "write_json_atomic",
    "write_shard",
    "write_text_atomic",
]
