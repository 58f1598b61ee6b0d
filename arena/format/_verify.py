"""Verifying a dataset: every listed file re-hashed, and what hashing cannot find.

:func:`verify` reports every problem rather than the first: bad files (missing, wrong size,
wrong sha256), then, in the files that hash correctly, shards whose rows disagree with the
manifest, labels outside the class count, and source indices that repeat within a split or
appear in two splits (one example's NeFs would leak between them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from arena.errors import ArenaError, DatasetContentError
from arena.format._names import PathLike
from arena.format._open import DatasetFiles, file_problem, load, read_init, read_parts


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
    files = load(Path(root))
    problems, intact = [], set()
    for entry in files.manifest.all_files():
        problem = file_problem(files.root, entry, checksum=True)
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
    error: type[ArenaError] = DatasetContentError,
) -> None:
    """Raise ``error`` (:class:`DatasetContentError`) when a label is outside ``0 .. num_classes - 1``.

    Args:
        labels: integer class labels.
        num_classes: the class count; ``None`` checks only that labels are ``>= 0``.
        where: what holds the labels, for the message (a shard's path, a source).
        fix: the message's last sentence: what to do.
        error: the exception class (a source's raw file raises :class:`SourceFormatError`).
    """
    labels = np.asarray(labels)
    high = np.iinfo(np.int64).max if num_classes is None else num_classes
    bad = np.flatnonzero((labels < 0) | (labels >= high))
    if bad.size == 0:
        return
    valid = "0 or more" if num_classes is None else f"0 to {num_classes - 1}, {num_classes} classes"
    raise error(
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
        parts = read_parts(files, split, mmap=True)
    except ArenaError as exc:
        return [exc], None
    count = files.manifest.num_classes
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
