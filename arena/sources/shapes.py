"""Labelled points for occupancy fitting: mesh normalisation, point sampling, winding numbers.

The conventions (all coordinates in the normalised cube [-1, 1]^3, axis order as in the file):

- **Normalisation** (:func:`normalize_vertices`): the mesh's bounding box is centred at the
  origin and scaled uniformly so that its longest side is ``2 / (1 + padding)``; with the default
  ``padding = 0.1`` (the padding of Occupancy Networks, Mescheder et al. 2019) the mesh spans
  [-1/1.1, 1/1.1] ~ [-0.909, 0.909] along its longest axis and leaves a margin to the cube's
  faces.
- **Uniform points**: independent and uniform in the cube [-1, 1]^3.
- **Near-surface points**: a point drawn uniformly on the surface (a face chosen with
  probability proportional to its area, then uniform barycentric coordinates) plus isotropic
  Gaussian noise of standard deviation ``noise_std``, clipped to the cube. The default 0.02 is
  1 % of the cube's side (0.01 in Occupancy Networks' unit cube); it is our choice, not a value
  taken from the paper.
- **Cleaning** (:func:`clean_mesh`, before everything else): equal vertex positions merged,
  faces without area dropped, repeated faces (two-sided CAD exports) kept once.
- **Occupancy**: generalised winding number > 0.5 (:func:`arena.sources.winding_numbers`) of the
  cleaned mesh, which is right on closed meshes and stays sensible on the open,
  self-intersecting CAD meshes of ModelNet and ShapeNet, where ray parity fails. ``labeller``
  picks who computes it (``arena.sources._winding.label_inside``): ``"exact"`` (the default,
  :data:`LABELLER`: the exact sum by the compiled CPU kernel where it runs, else by numpy),
  ``"libigl"`` (libigl's fast winding numbers) or ``"auto"`` (the fastest available); they
  differ on a few points in 10^5 right at the surface.

:func:`shape_points` draws the three sets a :class:`arena.fit.ShapeTask` needs, from three
independent random streams of one seed (``numpy.random.default_rng([seed, k])``, ``k`` = 0, 1, 2):

- the **pool** (``points``, ``occupancy``): ``n_uniform`` uniform then ``n_surface``
  near-surface points (the paper: 100,000 + 100,000); the fit draws its batches from it;
- the **eval** set (``eval_*``): ``n_eval_uniform`` + ``n_eval_surface`` (10,000 + 10,000) fresh
  points from the same distribution; ``iou`` is measured on it (held-out points of the fitting
  distribution);
- the **off-grid** set (``offgrid_*``): ``n_offgrid`` (20,000) fresh uniform points in the cube;
  ``iou_offgrid`` is measured on it (how well the whole volume, not just the sampled
  neighbourhood of the surface, is represented).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from arena.errors import ConfigError
from arena.sources._base import Mesh
from arena.sources._winding import label_inside, mesh_arrays

PADDING = 0.1
NOISE_STD = 0.02
NUM_UNIFORM = 100_000
NUM_SURFACE = 100_000
NUM_EVAL_UNIFORM = 10_000
NUM_EVAL_SURFACE = 10_000
NUM_OFFGRID = 20_000
LABELLER = "exact"  # what labels the point sets unless told otherwise (builders record it)
_POOL, _EVAL, _OFFGRID = 0, 1, 2


class ShapePoints(NamedTuple):
    """Labelled points of one shape, named as :meth:`arena.fit.ShapeTask.prepare` takes them.

    Points are float32 ``(m, 3)`` in the normalised cube, occupancies bool ``(m,)``.
    """

    points: np.ndarray
    occupancy: np.ndarray
    eval_points: np.ndarray
    eval_occupancy: np.ndarray
    offgrid_points: np.ndarray
    offgrid_occupancy: np.ndarray


def clean_mesh(vertices, faces) -> Mesh:
    """The mesh that occupancy is computed from: merged, without flat or repeated faces.

    Vertices at equal positions are merged (and unused ones dropped), faces without area are
    dropped, and faces repeating the same three vertices (in either orientation) keep only their
    first occurrence. The last step matters: CAD exports make a surface two-sided by appending a
    reversed copy of every face, whose winding number cancels the original's, so such a mesh
    has w = 0 everywhere: in half of ModelNet10's test meshes at least half of the faces come in
    such cancelling pairs (in 30 %, over 90 %). Keeping the first copy restores the modelled
    orientation. The geometry is unchanged.

    Returns:
        a :class:`~arena.sources.Mesh` (float64 vertices, int64 faces).
    """
    vertices, faces = mesh_arrays(vertices, faces)
    unique, inverse = np.unique(vertices, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    a, b, c = (unique[faces[:, k]] for k in range(3))
    faces = faces[np.linalg.norm(np.cross(b - a, c - a), axis=1) > 0]
    _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    faces = faces[np.sort(first)]
    used, compact = np.unique(faces, return_inverse=True)
    return Mesh(unique[used], compact.reshape(-1, 3).astype(np.int64))


def normalize_vertices(vertices, *, padding: float = PADDING) -> np.ndarray:
    """Centre the bounding box at the origin and scale its longest side to ``2 / (1 + padding)``.

    The box is that of all ``vertices``; :func:`clean_mesh` first drops the unused ones.

    Returns float64 ``(V, 3)``. Raises :class:`ConfigError` for an empty or flat-to-a-point mesh.
    """
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    if vertices.shape[0] == 0 or not np.isfinite(vertices).all():
        raise ConfigError(f"A mesh needs finite vertices to normalise; got {vertices.shape[0]}.")
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    extent = float((hi - lo).max())
    if extent <= 0:
        raise ConfigError("A mesh whose vertices all coincide cannot be normalised.")
    return (vertices - 0.5 * (lo + hi)) * (2.0 / ((1.0 + padding) * extent))


def sample_surface(vertices, faces, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniform on the surface (area-weighted faces, uniform barycentrics)."""
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = area.sum()
    if not total > 0:
        raise ConfigError("A mesh with no face of positive area has no surface to sample.")
    cdf = np.cumsum(area) / total
    face = np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), len(cdf) - 1)
    r1, r2 = rng.random((2, count))
    s = np.sqrt(r1)
    u, v, w = 1.0 - s, s * (1.0 - r2), s * r2
    return u[:, None] * a[face] + v[:, None] * b[face] + w[:, None] * c[face]


def _prepared(vertices, faces, padding: float) -> Mesh:
    mesh = clean_mesh(vertices, faces)
    if mesh.faces.shape[0] == 0:
        raise ConfigError("The mesh has no face with positive area, so it has no inside.")
    return Mesh(normalize_vertices(mesh.vertices, padding=padding), mesh.faces)


def _draw(vertices, faces, n_uniform: int, n_surface: int, noise_std: float, rng) -> np.ndarray:
    uniform = rng.uniform(-1.0, 1.0, (n_uniform, 3))
    surface = sample_surface(vertices, faces, n_surface, rng)
    surface += rng.normal(0.0, noise_std, surface.shape)
    return np.concatenate([uniform, np.clip(surface, -1.0, 1.0)])


def _check_counts(**counts: int) -> None:
    bad = {k: v for k, v in counts.items() if int(v) < 0}
    if bad:
        raise ConfigError(f"Point counts must be >= 0; got {bad}.")


def sample_points(
    vertices,
    faces,
    *,
    n_uniform: int = NUM_UNIFORM,
    n_surface: int = NUM_SURFACE,
    noise_std: float = NOISE_STD,
    padding: float = PADDING,
    seed: int = 0,
    labeller: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The fitting pool of one mesh: uniform then near-surface points, and their occupancy.

    Args:
        vertices, faces: the mesh in its own coordinates (cleaned and normalised here).
        n_uniform: points uniform in the cube [-1, 1]^3.
        n_surface: near-surface points (surface samples plus Gaussian noise of ``noise_std``).
        noise_std: standard deviation of the near-surface noise, in cube units.
        padding: normalisation padding (see :func:`normalize_vertices`).
        seed: the random stream is ``default_rng([seed, 0])``, the pool stream of
            :func:`shape_points`, so both give the same pool.
        labeller: a method of ``arena.sources._winding.label_inside`` (``"exact"``, ``"auto"``,
            ``"libigl"``, ...; see the module docstring); ``None`` reads :data:`LABELLER` when
            called, as the manifest does.

    Returns:
        ``(points float32 (n_uniform + n_surface, 3), occupancy bool (n_uniform + n_surface,))``.
    """
    _check_counts(n_uniform=n_uniform, n_surface=n_surface)
    vertices, faces = _prepared(vertices, faces, padding)
    rng = np.random.default_rng([seed, _POOL])
    points = _draw(vertices, faces, n_uniform, n_surface, noise_std, rng).astype(np.float32)
    return points, label_inside(vertices, faces, points, method=labeller or LABELLER)


def shape_points(
    vertices,
    faces,
    *,
    seed: int,
    n_uniform: int = NUM_UNIFORM,
    n_surface: int = NUM_SURFACE,
    n_eval_uniform: int = NUM_EVAL_UNIFORM,
    n_eval_surface: int = NUM_EVAL_SURFACE,
    n_offgrid: int = NUM_OFFGRID,
    noise_std: float = NOISE_STD,
    padding: float = PADDING,
    labeller: str | None = None,
) -> ShapePoints:
    """The pool, eval and off-grid point sets of one mesh (see the module docstring).

    One winding-number evaluation (by ``labeller``, see the module docstring) labels all three
    sets. Builders pass a seed that identifies the shape (its source index, say), so every shape
    gets its own, reproducible points.

    Example:
        >>> import trimesh
        >>> box = trimesh.creation.box()
        >>> sets = shape_points(box.vertices, box.faces, seed=0, n_uniform=100, n_surface=100,
        ...                     n_eval_uniform=10, n_eval_surface=10, n_offgrid=20)
        >>> sets.points.shape, sets.eval_points.shape, sets.offgrid_occupancy.shape
        ((200, 3), (20, 3), (20,))
    """
    _check_counts(n_uniform=n_uniform, n_surface=n_surface, n_eval_uniform=n_eval_uniform,
                  n_eval_surface=n_eval_surface, n_offgrid=n_offgrid)
    vertices, faces = _prepared(vertices, faces, padding)
    pool = _draw(vertices, faces, n_uniform, n_surface, noise_std,
                 np.random.default_rng([seed, _POOL]))
    held = _draw(vertices, faces, n_eval_uniform, n_eval_surface, noise_std,
                 np.random.default_rng([seed, _EVAL]))
    offgrid = np.random.default_rng([seed, _OFFGRID]).uniform(-1.0, 1.0, (n_offgrid, 3))
    points = np.concatenate([pool, held, offgrid]).astype(np.float32)
    inside = label_inside(vertices, faces, points, method=labeller or LABELLER)  # of the stored float32 points
    cuts = np.cumsum([pool.shape[0], held.shape[0]])
    parts = np.split(points, cuts)
    labels = np.split(inside, cuts)
    return ShapePoints(parts[0], labels[0], parts[1], labels[1], parts[2], labels[2])


def occupancy(vertices, faces, points, *, labeller: str | None = None) -> np.ndarray:
    """Inside test of points given in the mesh's own coordinates (bool ``(n,)``).

    Winding number > 0.5 of ``clean_mesh(vertices, faces)``, the rule the point sets use.
    """
    return label_inside(*clean_mesh(vertices, faces), points, method=labeller or LABELLER)
