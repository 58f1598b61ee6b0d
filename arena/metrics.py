"""Reconstruction and representation metrics, with the study's exact definitions (docs/design.md §8).

Functions here take numpy arrays, or JAX arrays inside a jitted function: they only use array
methods and the namespace of their input, so this module imports neither JAX nor torch.

- PSNR is computed on the [0, 1] pixel scale with a peak of 1.
- Off-grid PSNR compares a NeF at the midpoints between pixel centres (points strictly inside
  the image) with the order-1 spline (bilinear) interpolation of the image there, which at a
  midpoint is the mean of the four surrounding pixels: what
  ``scipy.ndimage.map_coordinates(image, coords, order=1)`` returns.
- IoU compares predicted and true occupancy on held-out points; an empty union counts as 1.
- NMI is between the labels and k-means clusters (k = number of classes) of the parameter
  vectors (:func:`nmi`); :func:`class_distances` gives the mean Euclidean distance between
  parameter vectors of the same class and of different classes.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from arena.errors import ConfigError

NMI_N_INIT = 10  # k-means restarts of nmi(): the best of 10 seeded runs (scikit-learn's classic default)
DISTANCE_SAMPLE = 5_000  # class_distances() is exact up to this many vectors, then on a seeded sample


def _xp(x):
    if type(x).__module__.startswith("jax"):
        return sys.modules["jax.numpy"]
    return np


def pixel_centres(height: int, width: int) -> np.ndarray:
    """Coordinates of the pixel centres of a ``height x width`` image, shape ``(height*width, 2)``.

    Axis order is ``(row, column)``: coordinate 0 runs from top to bottom, coordinate 1 from
    left to right, both in [-1, 1] with the image's outer edges at -1 and 1, so pixel ``(i, j)``
    sits at ``(-1 + (2i + 1)/height, -1 + (2j + 1)/width)``. Rows are in C order (row-major).
    """
    _check_size(height, width, 1)
    rows = -1.0 + (2.0 * np.arange(height) + 1.0) / height
    cols = -1.0 + (2.0 * np.arange(width) + 1.0) / width
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2).astype(np.float32)


def pixel_midpoints(height: int, width: int) -> np.ndarray:
    """The off-grid points: midpoints between 2x2 blocks of pixel centres, ``((h-1)*(w-1), 2)``.

    Point ``(i, j)`` lies between pixels ``(i, j)`` and ``(i+1, j+1)``, at fractional pixel
    position ``(i + 0.5, j + 0.5)``, strictly inside the image.
    """
    _check_size(height, width, 1)  # 1: no midpoints, an empty set
    rows = -1.0 + (2.0 * np.arange(height - 1) + 2.0) / height
    cols = -1.0 + (2.0 * np.arange(width - 1) + 2.0) / width
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2).astype(np.float32)


def midpoint_targets(images):
    """Bilinear (order-1 spline) values of images ``(..., h, w, c)`` at :func:`pixel_midpoints`.

    Returns ``(..., (h-1)*(w-1), c)``.
    """
    mid = 0.25 * (
        images[..., :-1, :-1, :] + images[..., 1:, :-1, :] + images[..., :-1, 1:, :] + images[..., 1:, 1:, :]
    )
    lead = mid.shape[:-3]
    return mid.reshape(*lead, -1, mid.shape[-1])


def _check_size(height, width, least: int) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ConfigError(f"An image {name} must be an integer >= {least} here; got {value!r}.")


def mse(pred, target, *, axis=None):
    """Mean squared error over ``axis`` (all axes by default)."""
    return ((pred - target) ** 2).mean(axis=axis)


def psnr_from_mse(err, *, data_range: float = 1.0):
    """PSNR in dB for a mean squared error on a scale whose peak-to-peak range is ``data_range``."""
    xp = _xp(err)
    return 10.0 * xp.log10(data_range**2 / xp.maximum(err, 1e-20))


def psnr(pred, target, *, data_range: float = 1.0, axis=None):
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``.

    Example:
        >>> round(float(psnr(np.zeros(4), np.full(4, 0.1))), 6)
        20.0
    """
    return psnr_from_mse(mse(pred, target, axis=axis), data_range=data_range)


def iou(pred_occupied, true_occupied, *, axis=-1):
    """Intersection over union of two boolean occupancy arrays along ``axis`` (1 when both are empty)."""
    xp = _xp(pred_occupied)
    inter = (pred_occupied & true_occupied).sum(axis=axis)
    union = (pred_occupied | true_occupied).sum(axis=axis)
    return xp.where(union > 0, inter / xp.maximum(union, 1), 1.0)


def nmi(params, labels, *, num_classes: int | None = None, seed: int = 0, n_init: int = NMI_N_INIT) -> float:
    """Normalised mutual information between k-means clusters of ``params`` and ``labels``.

    k-means is scikit-learn's ``KMeans(n_clusters=k, n_init=n_init, random_state=seed)`` (Lloyd,
    k-means++ seeding; the best of ``n_init`` runs by inertia) on the raw parameter vectors, with
    ``k = num_classes`` (default: the number of distinct labels). NMI is scikit-learn's
    ``normalized_mutual_info_score`` (arithmetic mean of the entropies): 1 when the clusters are
    the classes, about 0 when they are independent of them. Deterministic for a given ``seed``.

    Args:
        params: ``(N, P)`` parameter vectors, one per NeF.
        labels: ``(N,)`` integer class labels.
        num_classes: ``k``; the dataset's class count (a split may miss a class).
        seed: k-means' random state.
        n_init: k-means restarts (default :data:`NMI_N_INIT`, 10).

    Raises:
        ConfigError: shapes disagree, fewer vectors than clusters, or non-finite parameters.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    x, y = _vectors_and_labels(params, labels)
    k = len(np.unique(y)) if num_classes is None else int(num_classes)
    if k < 1 or len(x) < k:
        raise ConfigError(f"NMI needs at least k = {k} parameter vectors (one per cluster); got {len(x)}.")
    if n_init < 1:
        raise ConfigError(f"n_init must be a positive number of k-means restarts, not {n_init}.")
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    return float(normalized_mutual_info_score(y, clusters))


@dataclasses.dataclass(frozen=True)
class ClassDistances:
    """Mean pairwise Euclidean parameter distances, over the unordered pairs of distinct NeFs.

    ``within``: pairs of the same class; ``between``: pairs of different classes (``nan`` when a
    kind has no pair). ``sample_size`` is how many vectors the means are over: all of them, or
    a seeded sample (:func:`class_distances`).
    """

    within: float
    between: float
    sample_size: int

    @property
    def ratio(self) -> float:
        """``between / within``: above 1 when classes group in parameter space."""
        return self.between / self.within if self.within > 0 else float("nan")


def class_distances(params, labels, *, max_vectors: int = DISTANCE_SAMPLE, seed: int = 0,
                    block: int = 1024) -> ClassDistances:
    """Mean Euclidean distance between parameter vectors of the same class and of different classes.

    Exact over every unordered pair when there are at most ``max_vectors`` vectors; otherwise over
    the pairs of ``max_vectors`` rows drawn without replacement with
    ``numpy.random.default_rng(seed)`` (the sample size is returned). Distances are computed
    ``block`` rows at a time in float64, so memory stays ``O(block^2)``, never ``N x N``.

    Example:
        >>> d = class_distances(np.array([[0.0], [1.0], [10.0]]), np.array([0, 0, 1]))
        >>> d.within, d.between
        (1.0, 9.5)
    """
    x, y = _vectors_and_labels(params, labels)
    if max_vectors < 2 or block < 1:
        raise ConfigError(f"max_vectors must be >= 2 and block >= 1; got {max_vectors}, {block}.")
    if len(x) > max_vectors:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_vectors, replace=False))
        x, y = x[keep], y[keep]
    x = x.astype(np.float64)
    sq = (x * x).sum(axis=1)
    sums = np.zeros(2)  # within, between
    counts = np.zeros(2)
    for lo in range(0, len(x), block):
        for lo2 in range(lo, len(x), block):
            a, b = slice(lo, lo + block), slice(lo2, lo2 + block)
            d = np.sqrt(np.maximum(sq[a, None] + sq[None, b] - 2.0 * x[a] @ x[b].T, 0.0))
            same = y[a, None] == y[None, b]
            pair = np.ones_like(same)
            if lo == lo2:
                pair = np.triu(pair, k=1)  # each unordered pair once, no NeF with itself
            for kind, mask in enumerate((same & pair, ~same & pair)):
                sums[kind] += d[mask].sum()
                counts[kind] += mask.sum()
    within, between = (float(s / c) if c else float("nan") for s, c in zip(sums, counts))
    return ClassDistances(within=within, between=between, sample_size=len(x))


def _vectors_and_labels(params, labels) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(params)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ConfigError(f"Expected params (N, P) and labels (N,); got shapes {x.shape} and {y.shape}.")
    if not np.isfinite(x).all():
        raise ConfigError("The parameter vectors hold NaN or infinity; fit (or rebuild) the NeFs first.")
    return x, y
