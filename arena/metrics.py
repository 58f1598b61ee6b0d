"""Reconstruction and representation metrics, with the study's exact definitions (DESIGN section 8).

Functions here take numpy arrays, or JAX arrays inside a jitted function: they only use array
methods and the namespace of their input, so this module imports neither JAX nor torch.

- PSNR is computed on the [0, 1] pixel scale with a peak of 1.
- Off-grid PSNR compares a NeF at the midpoints between pixel centres (points strictly inside
  the image) with the order-1 spline (bilinear) interpolation of the image there, which at a
  midpoint is the mean of the four surrounding pixels: what
  ``scipy.ndimage.map_coordinates(image, coords, order=1)`` returns.
- IoU compares predicted and true occupancy on held-out points; an empty union counts as 1.
"""

from __future__ import annotations

import sys

import numpy as np


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
    rows = -1.0 + (2.0 * np.arange(height) + 1.0) / height
    cols = -1.0 + (2.0 * np.arange(width) + 1.0) / width
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    return grid.reshape(-1, 2).astype(np.float32)


def pixel_midpoints(height: int, width: int) -> np.ndarray:
    """The off-grid points: midpoints between 2x2 blocks of pixel centres, ``((h-1)*(w-1), 2)``.

    Point ``(i, j)`` lies between pixels ``(i, j)`` and ``(i+1, j+1)``, at fractional pixel
    position ``(i + 0.5, j + 0.5)``, strictly inside the image.
    """
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
