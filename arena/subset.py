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
sizes and the seed. The directory is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from arena import format as fmt
from arena.errors import ConfigError

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
        out: the directory to write (default: the local store, ``<name>_subset/<version>``).
        force: replace ``out`` if it already holds a dataset.

    Raises:
        ConfigError: an unknown split, a size outside ``1..rows``, or ``out`` already taken.
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
    out = Path(out) if out is not None else hub.local_path(name, version)
    if (out / fmt.MANIFEST_NAME).exists() and not force:
        raise ConfigError(f"'{out}' already holds a dataset; pass force=True (--force) to replace it.")

    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
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
        has_metrics = any(parent.get("stats", {}).get("metrics", {}).values())
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
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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
