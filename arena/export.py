"""A neural dataset as Parquet files that Hugging Face ``datasets`` reads with no Arena code.

``arena export NAME --format parquet --out DIR`` (or :func:`export`) writes::

    DIR/README.md                                   the dataset card, with configs/data_files front matter
    DIR/arena.json                                  the manifest, byte for byte (its shards stay behind)
    DIR/data/{split}-{i:05d}-of-{n:05d}.parquet     one row per NeF: params, label, index, metrics
    DIR/reconstructions.png                         the card's picture, when the dataset has one

so that ``datasets.load_dataset(DIR)``, and the Hub's dataset viewer once ``DIR`` is pushed as a
dataset repository, read every split with its ``ClassLabel`` names. The rows are those of
:meth:`arena.data.Split.to_hf` (columns in :mod:`arena.data._hf`); each Parquet file holds at
most ~500 MB of rows, in row groups of at most 1,000 rows (and ~64 MB), with a page index, which
is what the viewer reads fastest. ``load_dataset`` does not keep the manifest: set
``ds.info.description`` to ``arena.json``'s text to give a split back to :func:`arena.load`.

The dataset's shards are re-hashed against its manifest first (as ``arena verify`` does): a
damaged dataset is refused, never exported. ``DIR`` is written under a temporary name beside it
and renamed when complete. It must be new or empty, or (with ``force``) an earlier export and
nothing else; no other directory is replaced.

This module also holds what the dataset card says about loading (:func:`how_to_load`) and its Hub
metadata (:func:`card_metadata`), shared by the builders' cards and the export's card.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ArenaError, ConfigError, require
from arena.subset import require_intact

FORMATS = ("parquet",)
MAX_SHARD_BYTES = 500 * 2**20
MAX_GROUP_BYTES = 64 * 2**20
MAX_GROUP_ROWS = 1_000
# A row is a flat float32 parameter vector and a class: structurally a tabular classification
# task. "image-classification" would promise images, which the rows are not (nor are shapes).
TASK_CATEGORIES = ("tabular-classification",)
TASK_IDS = ("tabular-multi-class-classification",)
# sources whose terms are not an SPDX licence (the manifest's license is "other"): the Hub's
# license_name (an id of our choosing) and license_link
OTHER_LICENSES = {
    "cifar10": ("cifar-10-terms", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    "microimagenet": ("imagenet-terms-of-access", "https://image-net.org/download.php"),
    "modelnet10": ("modelnet-terms", "https://modelnet.cs.princeton.edu/"),
    "shapenet": ("shapenet-terms-of-use", "https://shapenet.org/terms"),
}
_SHARD_RE = re.compile(r"^[a-z0-9][a-z0-9_]*-\d{5}-of-\d{5}\.parquet$")
_IMAGE_RE = re.compile(r"!\[[^\]]*\]\(([A-Za-z0-9_.-]+\.png)\)")
_CARD = "README.md"


def export(ref, out: str | os.PathLike, *, format: str = "parquet", force: bool = False,
           max_shard_bytes: int = MAX_SHARD_BYTES) -> Path:
    """Write dataset ``ref`` to ``out`` as Parquet shards with a card and its manifest.

    Args:
        ref: anything :func:`arena.load` takes by name or place (a name, a directory, a URL).
        out: the directory to write: new, empty, or an earlier export to replace with ``force``.
        format: ``"parquet"``, the one format there is.
        force: replace ``out`` when it holds an earlier export and nothing else.
        max_shard_bytes: the most bytes of rows (uncompressed) in one Parquet file.

    Returns:
        ``out``.

    Raises:
        ConfigError: an unknown format, or an ``out`` that is taken (see the module docstring),
            is the dataset's directory or lies inside it.
        ChecksumError, SizeMismatchError, MissingFileError: a shard of the dataset does not
            match its manifest (nothing is written).
    """
    if format not in FORMATS:
        raise ConfigError(f"Unknown export format {format!r}; the Arena exports: {', '.join(FORMATS)}.")
    if isinstance(max_shard_bytes, bool) or not isinstance(max_shard_bytes, int) or max_shard_bytes < 1:
        raise ConfigError(f"max_shard_bytes must be a positive integer; got {max_shard_bytes!r}.")
    require("datasets", "hf", "arena export")
    from arena.data import _hf, load

    if _hf.is_hf(ref):
        raise ConfigError("export takes a dataset name, directory or URL; write a datasets.Dataset "
                          "with its own ds.to_parquet(...).")

    splits = load(ref)
    first = next(iter(splits.values()))
    target = _check_out(Path(out), first.root, force)
    files = fmt.open_dataset(first.root)
    require_intact(files, [e for name in splits for e in files.manifest.files(name)],
                   making=f"export {first.dataset}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()  # new: the cleanup below removes only what this call created
    try:
        sizes = {name: _write_split(tmp, splits[name], max_shard_bytes) for name in _ordered(splits)}
        _write_card(tmp, first, sizes)
        shutil.copyfile(first.root / fmt.MANIFEST_NAME, tmp / fmt.MANIFEST_NAME)
        fmt.swap_directory(tmp, target, fill_empty=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def parquet_name(split: str, i: int, count: int) -> str:
    """``"data/{split}-{i:05d}-of-{count:05d}.parquet"``, checked as :func:`arena.format.shard_name`."""
    return fmt.shard_name(split, i, count).removesuffix(".safetensors") + ".parquet"


def _ordered(splits: Mapping) -> list[str]:
    order = {"train": 0, "val": 1, "test": 2}
    return sorted(splits, key=lambda s: (order.get(s, 3), s))


def _write_split(root: Path, split, max_shard_bytes: int) -> int:
    """Write ``split``'s rows as Parquet shards under ``root``; return their size in Arrow bytes."""
    import pyarrow.parquet as pq

    from arena.data import _hf

    row_bytes = 4 * split.num_params + 16 + 4 * len(split._arrays.metrics)
    n = len(split)
    count = max(1, math.ceil(n / max(1, max_shard_bytes // row_bytes)))
    group = max(1, min(MAX_GROUP_ROWS, MAX_GROUP_BYTES // row_bytes))
    nbytes = 0
    for i in range(count):
        start, stop = n * i // count, n * (i + 1) // count
        rel = parquet_name(split.name, i, count)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        table = _hf.arrow_table(split, start, stop)
        pq.write_table(table, root / rel, row_group_size=group, use_dictionary=[_hf.LABEL],
                       write_page_index=True)
        nbytes += table.nbytes
    return nbytes


# --------------------------------------------------------------------------------------------
# The card


def card_metadata(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The Hub metadata of a dataset card: license (with its name and link when ``other``),
    task categories and task ids."""
    license_ = str(manifest.get("license") or "other").lower()
    meta: dict[str, Any] = {"license": license_}
    if license_ == "other":
        source = manifest.get("source", {}).get("name", "")
        name, link = OTHER_LICENSES.get(source, (f"{source or 'source'}-terms", None))
        meta["license_name"] = name
        if link is not None:
            meta["license_link"] = link
    meta["task_categories"] = list(TASK_CATEGORIES)
    meta["task_ids"] = list(TASK_IDS)
    return meta


def how_to_load(name: str) -> list[str]:
    """The card's "How to load" section: ``arena.load``, and ``load_dataset`` on a Parquet export."""
    return [
        "## How to load",
        "",
        "With the Neural Field Arena (`pip install neural-field-arena`): memory-mapped, with the "
        "parameter layout, the NeFs' forward pass and weight-space augmentations.",
        "",
        "```python",
        "import arena",
        "",
        f'train = arena.load("{name}", split="train")',
        "params, labels = train.params, train.labels  # (N, P) float32, (N,) int64",
        "ds = train.to_hf()  # the same rows as a datasets.Dataset; arena.load(ds) gives the split back",
        "```",
        "",
        f"With Hugging Face `datasets` alone, from the Parquet export "
        f"(`arena export {name} --format parquet --out {name}-parquet`, or a Hub dataset "
        "repository it was pushed to):",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{name}-parquet")  # a DatasetDict of the splits',
        'train = ds["train"].with_format("numpy")[:]',
        'params, labels = train["params"], train["label"]  # (N, P) float32, (N,) int64',
        'names = ds["train"].features["label"].names  # label k is names[k]',
        "```",
    ]


def _write_card(root: Path, split, sizes: Mapping[str, int]) -> None:
    from huggingface_hub import DatasetCard

    source = split.root / _CARD
    text = source.read_text(encoding="utf-8") if source.is_file() else _plain_card(split.info)
    card = DatasetCard(text, ignore_metadata_errors=True)
    for key, value in card_metadata(split.info).items():
        if card.data.get(key) is None:
            card.data[key] = value
    splits = _ordered(split.info.splits)
    card.data["configs"] = [{
        "config_name": "default",
        "data_files": [{"split": s, "path": f"{fmt.DATA_DIR}/{s}-*.parquet"} for s in splits],
    }]
    from arena.data import _hf

    card.data["dataset_info"] = {
        "features": _hf.features(split)._to_yaml_list(),
        "splits": [{"name": s, "num_bytes": sizes[s], "num_examples": split.info.num_examples(s)}
                   for s in splits],
        "dataset_size": sum(sizes.values()),
    }
    body = card.text if "## How to load" in card.text else card.text.rstrip("\n") + "\n\n" + "\n".join(how_to_load(split.dataset)) + "\n"
    (root / _CARD).write_text(f"---\n{card.data.to_yaml()}\n---\n{body}", encoding="utf-8")
    for image in sorted(set(_IMAGE_RE.findall(body))):
        if (split.root / image).is_file():
            shutil.copyfile(split.root / image, root / image)


def _plain_card(manifest: Mapping[str, Any]) -> str:
    """A card for a dataset that came without one: its name, version and source."""
    source = manifest.get("source", {}).get("name", "?")
    return (f"---\npretty_name: {manifest['name']}\ntags:\n- neural-fields\n- weight-space-learning\n"
            f"- neural-field-arena\n---\n\n# {manifest['name']} {manifest['version']}\n\n"
            f"A neural dataset of the Neural Field Arena: one fitted neural field per example of "
            f"{source}. `arena.json` describes how it was made.\n")


# --------------------------------------------------------------------------------------------
# Where it goes


def _check_out(out: Path, dataset_root: Path | None, force: bool) -> Path:
    """``out`` made absolute, refused unless new, empty, or an earlier export (with ``force``)."""
    target = out.expanduser().resolve()
    if dataset_root is not None:
        root = Path(dataset_root).resolve()
        if target == root or root in target.parents:
            where = "is" if target == root else "lies inside"
            raise ConfigError(f"--out {out} {where} the dataset being exported ({root}); pass a new or empty directory.")
    if not target.exists() and not target.is_symlink():
        return target
    if not target.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory; pass a new or empty directory.")
    if not any(target.iterdir()):
        return target
    held = _held_export(target)
    if held is None:
        raise ConfigError(
            f"--out {out} is not empty and is not an Arena Parquet export; the export never writes "
            "into such a directory, even with --force. Pass a new or empty directory."
        )
    if not force:
        raise ConfigError(
            f"--out {out} already holds an export of {held.name} {held.version}; pass --force "
            "(force=True) to replace it."
        )
    return target


def _held_export(root: Path) -> fmt.Manifest | None:
    """The manifest of the export in ``root`` when ``root`` holds an export and nothing else."""
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_symlink():
            return None
        if len(rel.parts) == 1 and path.is_dir():
            if rel.name != fmt.DATA_DIR:
                return None
        elif len(rel.parts) == 1:
            if rel.name not in (fmt.MANIFEST_NAME, _CARD) and rel.suffix != ".png":
                return None
        elif len(rel.parts) != 2 or rel.parts[0] != fmt.DATA_DIR or not _SHARD_RE.match(rel.name):
            return None
    try:
        return fmt.Manifest.load(root)
    except (ArenaError, OSError):
        return None
