"""The fixed splits of docs/design.md §4, as functions of a source."""

from __future__ import annotations

import numpy as np


def official(train: slice, val: slice, test: str = "test"):
    """Train and val cut from the official train split by position; test is the official test."""

    def splits(source) -> dict[str, np.ndarray]:
        official_train = source.splits["train"]
        return {"train": official_train[train], "val": official_train[val], "test": source.splits[test]}

    return splits


def seeded(train: float, val: float, seed: int, split: str = "all"):
    """A seeded shuffle of one official split cut into train / val / test fractions."""

    def splits(source) -> dict[str, np.ndarray]:
        pool = source.splits[split]
        order = np.random.default_rng(seed).permutation(len(pool))
        n_train, n_val = int(round(train * len(pool))), int(round(val * len(pool)))
        pick = pool[order]
        return {
            "train": np.sort(pick[:n_train]),
            "val": np.sort(pick[n_train:n_train + n_val]),
            "test": np.sort(pick[n_train + n_val:]),
        }

    return splits
