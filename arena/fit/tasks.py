"""Fitting tasks: what a NeF is fit to, its loss, its quality and its final metrics.

A task is a frozen dataclass of static settings (hashable, so it keys the compiled program);
the signals themselves travel separately as a dict of per-NeF arrays made by ``prepare``.
Everything below ``prepare`` is written for one NeF and batched by the fitter with ``vmap``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from arena import metrics
from arena.errors import ConfigError
from arena.nef._common import is_number, plain


@dataclasses.dataclass(frozen=True)
class ImageTask:
    """Fit images with MSE over all pixels (full batch every step).

    Coordinates are the pixel centres in [-1, 1], axis order ``(row, column)``
    (:func:`arena.metrics.pixel_centres`). Values are normalised per channel,
    ``(x - mean_c) / std_c`` with ``x`` in [0, 1]; the loss is the MSE of the normalised values,
    and the reported PSNR is on the [0, 1] scale (peak 1).

    Metrics: ``psnr`` on the fitting pixels and ``psnr_offgrid`` at the pixel midpoints against
    the bilinear interpolation of the image.
    """

    kind: ClassVar[str] = "image"
    metric_names: ClassVar[tuple[str, ...]] = ("psnr", "psnr_offgrid")
    quality_name: ClassVar[str] = "psnr"

    height: int
    width: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        sizes = (self.height, self.width, self.channels)
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in sizes):
            raise ConfigError(f"An image task needs height, width and channels that are integers >= 1; got {sizes}.")
        for name, values in (("mean", self.mean), ("std", self.std)):
            values = tuple(values) if isinstance(values, (list, tuple, np.ndarray)) else (values,)
            if len(values) != self.channels or not all(is_number(v) and math.isfinite(plain(v)) for v in values):
                raise ConfigError(f"Image {name} must be {self.channels} finite number(s), one per channel; "
                                  f"got {values}.")
            object.__setattr__(self, name, tuple(float(plain(v)) for v in values))  # hashable, as the fit caches it
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"Image std must be positive per channel; got {self.std}.")

    @classmethod
    def for_images(cls, images: np.ndarray, *, mean=None, std=None) -> ImageTask:
        """The task for ``images`` ``(N, H, W)`` or ``(N, H, W, C)``, uint8 or floats in [0, 1].

        ``mean`` and ``std`` are per channel, on the [0, 1] scale; either one left out is the
        images' own (:func:`image_stats`), as the builders normalise with their train split's.
        The task records them. When fitting one dataset in several calls, pass the same
        ``mean`` and ``std`` to each (e.g. ``image_stats`` of the whole train split), so every
        NeF is fit to the same normalisation.
        """
        images = _as_unit_images(images)
        n, h, w, c = images.shape
        if min(n, h, w, c) < 1:
            raise ConfigError(f"Nothing to fit: images need at least one image, pixel and channel; got shape "
                              f"{images.shape}.")
        if mean is None or std is None:
            own_mean, own_std = image_stats(images)
            mean = own_mean if mean is None else mean
            std = own_std if std is None else std
        return cls(height=h, width=w, channels=c, mean=_per_channel("mean", mean, c),
                   std=_per_channel("std", std, c))

    @property
    def points_per_step(self) -> int:
        return self.height * self.width

    @property
    def field_dims(self) -> tuple[int, int]:
        """``(in_dim, out_dim)`` of the fields this task fits: 2-D coordinates to the channels."""
        return 2, self.channels

    def check(self, data) -> None:
        """Refuse ``data`` that is not what :meth:`prepare` makes for this task (:func:`arena.fit.fit`'s input)."""
        want = (self.height * self.width, self.channels)
        values = data.get("values") if set(data) == {"values"} else None
        if getattr(values, "ndim", 0) != 3 or tuple(values.shape[1:]) != want:
            got = {k: getattr(v, "shape", type(v).__name__) for k, v in data.items()}
            raise ConfigError(f"This image task fits data {{'values': (N, {want[0]}, {want[1]})}}; got {got}. "
                              "Pass task.prepare(images), or use fit_images.")

    def describe(self) -> dict:
        return {
            "kind": "image",
            "shape": [self.height, self.width, self.channels],
            "coords": "pixel centres in [-1, 1], axis order (row, column), row-major",
            "normalization": {"mean": list(self.mean), "std": list(self.std), "scale": "[0, 1]"},
        }

    def prepare(self, images: np.ndarray) -> dict[str, np.ndarray]:
        images = _as_unit_images(images)
        if images.shape[1:] != (self.height, self.width, self.channels):
            raise ConfigError(
                f"Images have shape {images.shape[1:]}; this task fits "
                f"{(self.height, self.width, self.channels)}."
            )
        normed = (images - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return {"values": normed.reshape(len(images), -1, self.channels).astype(np.float32)}

    def _coords(self):
        """The pixel centres, plus a few repeated ones when the count is a multiple of 128.

        Feature-major activations have one row per feature, ``points`` floats long; rows of a
        multiple of 512 bytes (1,024 pixels: 4 KiB) map to the same cache sets, which slows
        such fits several times over (docs/measurements.md). The padded points are dropped
        before the loss, so they change nothing but the stride.
        """
        centres = metrics.pixel_centres(self.height, self.width)
        pad = 16 if len(centres) % 128 == 0 else 0
        return jnp.asarray(np.concatenate([centres, centres[:pad]]))

    def _to_unit_mse(self, per_channel_mse):
        return (per_channel_mse * jnp.asarray(self.std, jnp.float32) ** 2).mean()

    def loss(self, field, params, data, key):
        # a field may compute the loss and its gradients in one fused step (SIREN: CPU kernel or Pallas)
        fused = getattr(field, "fused_mse", None)
        out = None
        if fused is not None:
            out = fused(params, jnp.asarray(metrics.pixel_centres(self.height, self.width)), data["values"])
        if out is None:
            pred = field.apply(params, self._coords())[: self.points_per_step]
            err = ((pred - data["values"]) ** 2).mean(axis=0)
            loss = err.mean()
        else:
            loss, err = out
        return loss, metrics.psnr_from_mse(self._to_unit_mse(err))

    def metrics(self, field, params, data) -> dict:
        values = data["values"]
        pred = field.apply(params, self._coords())[: self.points_per_step]
        on = self._to_unit_mse(((pred - values) ** 2).mean(axis=0))
        image = values.reshape(self.height, self.width, self.channels)
        mids = jnp.asarray(metrics.pixel_midpoints(self.height, self.width))
        off_pred = field.apply(params, mids)
        off = self._to_unit_mse(((off_pred - metrics.midpoint_targets(image)) ** 2).mean(axis=0))
        return {"psnr": metrics.psnr_from_mse(on), "psnr_offgrid": metrics.psnr_from_mse(off)}


def image_stats(images) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` of ``images`` on the [0, 1] scale, each rounded to 6 decimals.

    ``images`` as :meth:`ImageTask.for_images` takes them. The statistics are over every pixel of
    every image (float64); the std is the population std, at least 1e-6.
    """
    x = _as_unit_images(images)
    if x.size == 0:
        raise ConfigError("Cannot compute image statistics of no images; pass mean and std.")
    x = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = x.mean(axis=0)
    std = np.sqrt(np.maximum(((x - mean) ** 2).mean(axis=0), 1e-12))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _per_channel(name: str, value, channels: int) -> tuple[float, ...]:
    """``mean`` or ``std`` as one float per channel: one number for every channel, or one each."""
    try:
        values = np.asarray(value, np.float64)
        return tuple(float(v) for v in np.broadcast_to(values, (channels,)))
    except (TypeError, ValueError):
        raise ConfigError(f"Image {name} must be one number, or one per channel ({channels}), on the [0, 1] "
                          f"scale; got {value!r}.") from None


def _as_unit_images(images) -> np.ndarray:
    try:
        images = np.asarray(images)
    except ValueError:  # a ragged nest of lists
        raise ConfigError("Images must be an array (N, H, W) or (N, H, W, C); got lists of unequal sizes.") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ConfigError(
            f"Images must have shape (N, H, W) or (N, H, W, C); got {images.shape}."
        )
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(f"Images must be uint8 or floats in [0, 1]; got dtype {images.dtype}. Convert them "
                          "first: images.astype(np.uint8) for values 0 to 255, masks.astype(np.float32) for booleans, "
                          "else divide by the maximum.")
    finite = np.isfinite(images)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ConfigError(
            f"Images hold {int(finite.size - finite.sum())} NaN or infinite value(s), the first at (image, row, "
            f"column, channel) {first}; replace them or leave those images out."
        )
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ConfigError(
            f"Float images must lie in [0, 1]; got values in [{images.min()}, {images.max()}]. "
            "Divide by the maximum value (255 for 8-bit) first."
        )
    return images.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ShapeTask:
    """Fit occupancy with binary cross-entropy on balanced inside/outside point batches.

    Each shape comes with a pool of labelled points (the builders use the paper's 100,000 uniform
    plus 100,000 near-surface points). Every step draws ``points_per_step / 2`` inside and as many
    outside points from the pool, on the device, with a key that depends only on the seed, the
    NeF's global index and the step. Metrics are computed on held-out points, never on the pool:
    ``iou`` on ``eval_*`` and ``iou_offgrid`` on ``offgrid_*`` (see the shape sources for what
    each set is). Coordinates are in the normalised cube [-1, 1]^3.
    """

    kind: ClassVar[str] = "shape"
    metric_names: ClassVar[tuple[str, ...]] = ("iou", "iou_offgrid")
    quality_name: ClassVar[str] = "batch IoU"

    points_per_step: int = 8192

    def __post_init__(self):
        pps = self.points_per_step
        if isinstance(pps, bool) or not isinstance(pps, numbers.Integral) or pps < 2 or pps % 2:
            raise ConfigError(
                f"points_per_step must be an even number >= 2; got {self.points_per_step!r}."
            )

    @property
    def field_dims(self) -> tuple[int, int]:
        """``(in_dim, out_dim)`` of the fields this task fits: 3-D points to one occupancy logit."""
        return 3, 1

    def check(self, data) -> None:
        """Refuse ``data`` that is not what :meth:`prepare` makes (:func:`arena.fit.fit`'s input)."""
        want = {"points": 3, "occupancy": 2, "num_inside": 1, "eval_points": 3, "eval_occupancy": 2,
                "offgrid_points": 3, "offgrid_occupancy": 2}
        if set(data) != set(want) or any(getattr(data[k], "ndim", None) != d for k, d in want.items()):
            got = {k: getattr(v, "shape", type(v).__name__) for k, v in data.items()}
            raise ConfigError(f"This shape task fits the data task.prepare(...) makes, {sorted(want)}; got {got}. "
                              "Pass task.prepare(...), or use fit_shapes.")

    def describe(self) -> dict:
        return {
            "kind": "shape",
            "points_per_step": self.points_per_step,
            "coords": "normalised cube [-1, 1]^3, axis order (x, y, z)",
        }

    def prepare(
        self, points, occupancy, eval_points, eval_occupancy, offgrid_points, offgrid_occupancy
    ) -> dict[str, np.ndarray]:
        points, occupancy = _point_set("pool", points, occupancy)
        eval_points, eval_occupancy = _point_set("eval", eval_points, eval_occupancy)
        offgrid_points, offgrid_occupancy = _point_set("offgrid", offgrid_points, offgrid_occupancy)
        counts = {"points": len(points), "eval_points": len(eval_points), "offgrid_points": len(offgrid_points)}
        if len(set(counts.values())) != 1:
            raise ConfigError(f"Every point set needs one entry per shape; got {counts} shapes.")
        # inside points first, so a balanced batch is two index ranges
        order = np.argsort(~occupancy, axis=1, kind="stable")
        points = np.take_along_axis(points, order[..., None], axis=1)
        occupancy = np.take_along_axis(occupancy, order, axis=1)
        return {
            "points": points,
            "occupancy": occupancy,
            "num_inside": occupancy.sum(axis=1).astype(np.int32),
            "eval_points": eval_points,
            "eval_occupancy": eval_occupancy,
            "offgrid_points": offgrid_points,
            "offgrid_occupancy": offgrid_occupancy,
        }

    def draw(self, data, key) -> jax.Array:
        """Pool indices of one step's batch (one NeF): ``points_per_step / 2`` inside, then outside.

        Uniform with replacement within each class of the inside-first pool; a class the shape
        lacks is replaced by the nearest pool end (index 0 or ``m - 1``).
        """
        m = data["points"].shape[0]
        n_in = data["num_inside"]
        u_in, u_out = jax.random.uniform(key, (2, self.points_per_step // 2))
        idx_in = jnp.minimum((u_in * jnp.maximum(n_in, 1)).astype(jnp.int32), m - 1)
        idx_out = jnp.minimum(n_in + (u_out * jnp.maximum(m - n_in, 1)).astype(jnp.int32), m - 1)
        return jnp.concatenate([idx_in, idx_out])

    def loss(self, field, params, data, key):
        m = data["points"].shape[0]
        n_in = data["num_inside"]
        half = self.points_per_step // 2
        idx = self.draw(data, key)
        # The pool is sorted inside first, so the labels of the draws are known without a gather
        # (a gather per step costs time): inside draws are inside unless the shape has no inside
        # point (index 0 is then an outside one), outside draws are outside unless every point
        # is inside (index m - 1 is then an inside one).
        labels = jnp.concatenate([jnp.full(half, n_in > 0), jnp.full(half, n_in >= m)])
        # a field may compute the loss and its gradients in one fused step (SIREN on CPU),
        # reading the drawn points from the pool itself
        fused = getattr(field, "fused_bce", None)
        out = None if fused is None else fused(params, data["points"], labels.astype(jnp.float32), idx)
        if out is None:
            # The batch is stored transposed, (3, points), behind a barrier that keeps XLA from
            # folding the transpose away. A SIREN works feature-major; without this XLA's
            # products contract the points' major axis in the first layer's weight gradient, a
            # slow layout (the CPU kernel needs this layout anyway; docs/measurements.md).
            coords = jax.lax.optimization_barrier(data["points"][idx].T).T
            logits = field.apply(params, coords)[:, 0]
            loss = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()
        else:
            loss, logits = out
        return loss, metrics.iou(logits > 0, labels, axis=0)

    def metrics(self, field, params, data) -> dict:
        def score(points, occupied):
            return metrics.iou(field.apply(params, points)[:, 0] > 0, occupied, axis=0)

        return {
            "iou": score(data["eval_points"], data["eval_occupancy"]),
            "iou_offgrid": score(data["offgrid_points"], data["offgrid_occupancy"]),
        }


def _point_set(name: str, points, occupancy) -> tuple[np.ndarray, np.ndarray]:
    """One labelled point set of :meth:`ShapeTask.prepare`: finite points ``(N, M, 3)`` float32, M >= 1,
    and their occupancy ``(N, M)`` bool from booleans or 0/1 values."""
    try:
        points = np.asarray(points, np.float32)
        labels = np.asarray(occupancy)
    except (TypeError, ValueError):
        raise ConfigError(f"The {name} points must be a numeric array (N, M, 3) with occupancy (N, M); got "
                          f"{type(points).__name__} and {type(occupancy).__name__}.") from None
    if points.ndim != 3 or points.shape[-1] != 3 or labels.shape != points.shape[:2] or points.shape[1] < 1:
        raise ConfigError(
            f"Shape point sets ({name}) must be points (N, M, 3), M >= 1, with occupancy (N, M); got "
            f"{points.shape} and {labels.shape}."
        )
    if not np.isfinite(points).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(points))[0][:2])
        raise ConfigError(f"The {name} points hold NaN or infinite coordinates, the first at (shape, point) "
                          f"{first}; leave those points out.")
    if labels.dtype != bool:
        if labels.dtype.kind not in "iuf" or not np.isin(labels, (0, 1)).all():
            raise ConfigError(
                f"The {name} occupancy must be booleans or 0/1 (inside/outside); got dtype {labels.dtype}"
                + (f" with values other than 0 and 1, e.g. {labels[~np.isin(labels, (0, 1))].flat[0].item()!r}"
                   if labels.dtype.kind in "iuf" else "")
                + ". Threshold probabilities or distances first (e.g. occupancy > 0.5)."
            )
        labels = labels.astype(bool)
    return points, labels
