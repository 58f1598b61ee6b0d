"""The statistics a manifest records under ``stats``: mean fit metrics per split, and the
mean and standard deviation of each parameter tensor over the train split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from arena.format._names import METRIC_PREFIX, PathLike
from arena.format._safetensors import shard_arrays
from arena.layout import Layout


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
