"""Reconstructing a NeF's signal: an image on its pixel grid, or a shape's occupancy and mesh."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from arena.errors import ConfigError, require
from arena.metrics import pixel_centres

_CHUNK = 1 << 16  # coordinates per forward call when rendering a volume


class ShapeRender(NamedTuple):
    """A shape NeF sampled on the cell centres of a ``res^3`` grid over the cube [-1, 1]^3.

    Attributes:
        occupancy: bool ``(res, res, res)``, ``occupancy[i, j, k]`` at cell ``(x_i, y_j, z_k)``
            with ``x_i = -1 + (2 i + 1) / res``; a point is inside where the logit is > 0.
        logits: float32 ``(res, res, res)``, the NeF's output there.
        vertices: float64 ``(V, 3)`` in cube coordinates (x, y, z): the marching-cubes surface
            of ``logits`` at level 0; ``None`` when no mesh was asked for.
        faces: int64 ``(F, 3)`` vertex indices of its triangles; ``None`` likewise.
    """

    occupancy: np.ndarray
    logits: np.ndarray
    vertices: np.ndarray | None
    faces: np.ndarray | None


def image_coords(signal: Mapping[str, Any], *, scale: int = 1) -> tuple[tuple[int, int, int], np.ndarray]:
    """The image shape ``(H, W, C)`` and the coordinates of its pixels in row-major order.

    ``signal.grid`` says how a dataset's NeFs were fit: ``"centres_ij"`` (the Arena's, the
    default) puts pixel ``(i, j)`` at its centre in [-1, 1] with axis order (row, column);
    ``"linspace_xy"`` (fit-a-nef's, for imported datasets) is ``meshgrid(linspace(-1, 1, H),
    linspace(-1, 1, W))`` stacked as (x, y) and flattened as fit-a-nef flattened it.

    ``scale`` > 1 gives the grid of a ``scale`` times finer image over the same square: a NeF is
    continuous, so it has values between the pixels it was fit on. The shape returned is then
    ``(scale H, scale W, C)``.
    """
    shape = signal.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise ConfigError(
            f"The manifest's signal.shape is {shape!r}; rendering an image needs [H, W, C]."
        )
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale must be a positive integer; got {scale!r}.")
    h, w, c = (int(d) * (int(scale) if k < 2 else 1) for k, d in enumerate(shape))
    grid = signal.get("grid", "centres_ij")
    if grid == "centres_ij":
        return (h, w, c), pixel_centres(h, w)
    if grid == "linspace_xy":
        x, y = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w))
        return (h, w, c), np.stack([x, y], axis=-1).reshape(h * w, 2).astype(np.float32)
    raise ConfigError(f"Unknown signal.grid {grid!r}; the Arena renders 'centres_ij' and 'linspace_xy'.")


def image(field: Callable, signal: Mapping[str, Any], *, clip: bool = True, scale: int = 1) -> np.ndarray:
    """The image a NeF reconstructs, ``(H, W, C)`` float32, with the normalisation undone.

    Values are on the scale the manifest's ``signal.normalization`` is defined on (``[0, 1]``:
    the source's 8-bit values divided by 255), clipped to it when ``clip``. ``scale`` > 1 samples
    the NeF ``scale`` times finer, ``(scale H, scale W, C)`` (see :func:`image_coords`).
    """
    (h, w, c), coords = image_coords(signal, scale=scale)
    values = np.concatenate([field(coords[i:i + _CHUNK]) for i in range(0, len(coords), _CHUNK)])
    values = values.reshape(h, w, c)
    norm = signal.get("normalization") or {}
    mean = np.asarray(norm.get("mean", 0.0), np.float32)
    std = np.asarray(norm.get("std", 1.0), np.float32)
    out = values * std + mean
    if clip and norm.get("scale") == "[0, 1]":
        out = np.clip(out, 0.0, 1.0)
    return out.astype(np.float32, copy=False)


def shape(field: Callable, *, resolution: int = 64, mesh: bool = True) -> ShapeRender:
    """A shape NeF's occupancy on a ``resolution^3`` grid, and its mesh by marching cubes."""
    if not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ConfigError(f"resolution must be an integer >= 2; got {resolution!r}.")
    g = (-1.0 + (2.0 * np.arange(resolution) + 1.0) / resolution).astype(np.float32)
    coords = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    logits = np.concatenate([field(coords[i:i + _CHUNK])[:, 0] for i in range(0, len(coords), _CHUNK)])
    logits = logits.reshape(resolution, resolution, resolution)
    vertices = faces = None
    if mesh:
        mcubes = require("mcubes", "build", "Meshing a shape NeF (marching cubes)")
        v, f = mcubes.marching_cubes(logits.astype(np.float64), 0.0)
        vertices = -1.0 + (2.0 * np.asarray(v, np.float64) + 1.0) / resolution
        faces = np.asarray(f, np.int64).reshape(-1, 3)
    return ShapeRender(logits > 0, logits, vertices, faces)


def obj_text(vertices: np.ndarray, faces: np.ndarray, *, comment: str = "") -> str:
    """A triangle mesh as Wavefront OBJ text: ``v x y z`` lines, then 1-based ``f a b c`` lines."""
    out = io.StringIO()
    for line in comment.splitlines():
        out.write(f"# {line}\n")
    np.savetxt(out, np.asarray(vertices, np.float64).reshape(-1, 3), fmt="v %.6f %.6f %.6f")
    np.savetxt(out, np.asarray(faces, np.int64).reshape(-1, 3) + 1, fmt="f %d %d %d")
    return out.getvalue()
