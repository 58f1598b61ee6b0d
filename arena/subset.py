"""A smaller dataset drawn from a neural dataset: a seeded sample of each split, in the Arena format.

For quick experiments, and for evaluations that a full dataset makes too slow on a given machine::

    >>> from arena.subset import subset
    >>> root = subset("neural_mnist", {"train": 2000, "val": 500, "test": 1000})  # doctest: +SKIP

The subset is a complete dataset of its own, named ``<name>_subset`` so that it can never stand in
for the full dataset (``arena.load("neural_mnist")`` is unaffected, and an evaluation on it says
``neural_mnist_subset`` in its result). Its version is the parent's with the sizes and seed as
build metadata (``1.0.0+train2000.val500.test1000.seed0``). Each split keeps ``k`` rows drawn
uniformly without replacement (``numpy.random.default_rng([seed, split number])``, the splits
numbered train, val, test, then the others by name), in the parent's order; a split not given
is kept whole. Parameters, labels, source indices and metrics
are copied bit for bit; the shared initialisation is copied; ``stats`` are recomputed over the
subset's rows (so ``Normalize.from_manifest`` uses the subset's train statistics, as the protocol
does for any dataset); ``builder`` records the parent (name, version, manifest sha256), the
sizes and the seed. Every parent file read is first re-hashed against the parent's manifest
(as ``arena verify`` does), so a damaged parent is refused, never copied into a subset that would
verify clean. The directory is written under a temporary name beside ``out`` and renamed
when complete.

``out`` is never a directory the subset cannot own: it must be new, empty, or (with ``force``) a
subset of the same name and nothing else, which is moved aside, replaced, and removed only once
the new one is in place. ``out`` may not be, hold or lie inside the parent dataset, nor be or
hold the local store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import numpy as np

from arena import format as fmt
from arena.errors import ArenaError, ChecksumError, ConfigError, MissingFileError, SizeMismatchError

SUFFIX = "_subset"
SHARD_ROWS = 5_000
_ORDER = {"train": 0, "val": 1, "test": 2}


def ordered_splits(manifest) -> list[str]:
    """A dataset's splits in the order that numbers them for the draw: train, val, test, then others by name."""
    return sorted(manifest.splits, key=lambda s: (_ORDER.get(s, len(_ORDER)), s))


def subset(ref, sizes: Mapping[str, int], *, seed: int = 0, out: str | os.PathLike | None = None,
           force: bool = False) -> Path:
    """Write a seeded subset of dataset ``ref`` and return its directory.

    Args:
        ref: anything :func:`arena.hub.resolve` takes (a name, a directory, ``hf://...``).
        sizes: ``{split: rows to keep}``; splits not named are kept whole.
        seed: the draw's seed.
        out: the directory to write (default: the local store, ``<name>_subset/<version>``): a
            new or empty directory, or a subset of the same name to replace with ``force``.
        force: replace ``out`` if it holds a dataset of the subset's name (and nothing else).

    Raises:
        ConfigError: an unknown split, a size outside ``1..rows``, or an ``out`` that is taken
            (by this subset without ``force``, or by anything else), is the local store or holds
            it, or is, holds or lies inside the parent dataset.
        ChecksumError, SizeMismatchError, MissingFileError: a file of the parent does not match
            its manifest (nothing is written).
    """
    from arena import hub

    root = hub.resolve(ref)
    files = fmt.open_dataset(root)
    parent = files.manifest.to_dict()
    splits = ordered_splits(files.manifest)
    keep = _sizes(sizes, files.manifest, splits, parent["name"])
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, not {seed!r}.")

    name = parent["name"] + SUFFIX
    tag = ".".join(f"{s}{keep[s]}" for s in splits) + f".seed{seed}"
    version = parent["version"] + ("." if "+" in parent["version"] else "+") + tag
    out = _output_dir(out, root) if out is not None else hub.local_path(name, version)
    _check_replaceable(out, name, force)
    init = files.manifest.init_file
    require_intact(files, [e for split in splits for e in files.manifest.files(split)]
                   + ([init] if init is not None else []), making=f"draw a subset of {parent['name']}")

    with fmt.staged_directory(out, fill_empty=True) as tmp:
        shard_files = {}
        for number, split in enumerate(splits):
            arrays = fmt.read_split(files, split)
            n = files.manifest.num_examples(split)
            rows = np.sort(np.random.default_rng([seed, number]).choice(n, keep[split], replace=False))
            count = max(1, -(-len(rows) // SHARD_ROWS))
            shard_files[split] = []
            for i in range(count):
                part = rows[i * SHARD_ROWS:(i + 1) * SHARD_ROWS]
                rel = fmt.shard_name(split, i, count)
                fmt.write_shard(tmp / rel, np.asarray(arrays.params[part]), arrays.label[part],
                                arrays.index[part], {k: v[part] for k, v in arrays.metrics.items()})
                shard_files[split].append(rel)
        manifest = dict(parent)
        init = fmt.read_init(files)
        if init is not None:
            fmt.write_init(tmp / fmt.INIT_NAME, init)
            manifest["init"] = fmt.file_entry(tmp, fmt.INIT_NAME)
        metrics, params = fmt.dataset_stats(tmp, shard_files, files.manifest.layout)
        has_metrics = any(files.manifest.metrics.values())
        manifest.update(
            name=name,
            version=version,
            splits={s: fmt.split_entry(tmp, names) for s, names in shard_files.items()},
            stats={"metrics": metrics if has_metrics else {}, "params": params},
            builder={
                "name": "subset",
                "of": {"name": parent["name"], "version": parent["version"], "manifest_sha256": files.manifest_sha256},
                "sizes": {s: keep[s] for s in splits},
                "seed": seed,
                "command": f"arena subset {parent['name']} " + " ".join(f"--{s} {keep[s]}" for s in splits)
                           + f" --seed {seed}",
            },
        )
        fmt.Manifest.from_json(json.dumps(manifest)).write(tmp)  # validated before it is written
    return out


def require_intact(files: fmt.DatasetFiles, entries, *, making: str) -> None:
    """Re-hash the listed files a derived dataset is about to be made from (what ``arena verify``
    checks: size and sha256 against the manifest); raise naming the first damaged one.

    Args:
        files: the parent dataset.
        entries: the :class:`arena.format.FileEntry` of each file that will be read.
        making: what is refused, for the message (``"draw a subset of neural_mnist"``).
    """
    for entry in entries:
        try:
            fmt.check_file(files.root, entry, checksum=True)
        except (ChecksumError, MissingFileError, SizeMismatchError) as exc:
            raise type(exc)(f"Cannot {making}: {exc} `arena verify {files.root}` lists every "
                            "damaged file; nothing was written.") from None


def _output_dir(out: str | os.PathLike, parent: Path) -> Path:
    """``out`` made absolute, refused if it is the parent dataset's or the store's place, or inside a dataset."""
    from arena import hub

    target, parent = Path(out).expanduser().resolve(), parent.resolve()
    fix = "Pass a new or empty directory, or no --out to write to the local store."
    if target == parent or parent in target.parents or target in parent.parents:
        where = "is" if target == parent else "lies inside" if parent in target.parents else "holds"
        raise ConfigError(f"--out {out} {where} the dataset the subset is drawn from ({parent}). {fix}")
    hub.check_output_place(target, out, fix)
    return target


def _check_replaceable(out: Path, name: str, force: bool) -> None:
    """Refuse an ``out`` that holds anything but a dataset named ``name`` (or, without ``force``, that)."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise ConfigError(f"'{out}' exists and is not a directory; pass a new or empty directory.")
    if not any(out.iterdir()):
        return
    held = _held_dataset(out)
    if held is None or held.name != name:
        what = f"a dataset named '{held.name}'" if held is not None else "files that are not a dataset"
        raise ConfigError(
            f"'{out}' is not empty: it holds {what}, not '{name}'. The subset never replaces "
            "such a directory, even with --force; pass a new or empty directory."
        )
    extra = _unlisted(out, held)
    if extra:
        raise ConfigError(
            f"'{out}' holds '{name}' and also {extra[0]!r}, which is not part of it; the subset "
            "never replaces it, even with --force. Move that away or pass another directory."
        )
    if not force:
        raise ConfigError(
            f"'{out}' already holds a dataset ({held.name} {held.version}); pass force=True (--force) "
            "to replace it."
        )


def _held_dataset(out: Path) -> fmt.Manifest | None:
    try:
        return fmt.Manifest.load(out)
    except (ArenaError, OSError):
        return None


def _unlisted(root: Path, manifest: fmt.Manifest) -> list[str]:
    """What ``root`` holds beyond the manifest, the files it lists and their folders."""
    listed = {fmt.MANIFEST_NAME, *(e.path for e in manifest.all_files())}
    folders = {str(parent) for f in listed for parent in PurePosixPath(f).parents if str(parent) != "."}
    found = (p.relative_to(root).as_posix() for p in root.rglob("*"))
    return sorted(p for p in found if p not in listed and p not in folders)


def _sizes(sizes: Mapping[str, int], manifest, splits: list[str], name: str) -> dict[str, int]:
    unknown = sorted(set(sizes) - set(splits))
    if unknown:
        raise ConfigError(f"Dataset '{name}' has no split {unknown[0]!r}; its splits are {', '.join(splits)}.")
    keep = {}
    for split in splits:
        n = manifest.num_examples(split)
        k = sizes.get(split, n)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
            raise ConfigError(f"--{split} {k!r} is out of range: split '{split}' of '{name}' has {n} NeFs (1..{n}).")
        keep[split] = int(k)
    return keep
