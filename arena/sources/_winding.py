"""Generalised winding numbers of triangle meshes (Jacobson, Kavan and Sorkine-Hornung, 2013).

The winding number of a triangle soup at a point ``p`` is ``w(p) = sum_t Omega_t(p) / (4 pi)``,
where ``Omega_t`` is the signed solid angle of triangle ``t`` seen from ``p``. It is the
indicator function of a closed, consistently oriented surface (1 inside, 0 outside) and degrades
gracefully on open, non-manifold and self-intersecting meshes, so ``w > 0.5`` is the occupancy.

Each solid angle uses the formula of Van Oosterom and Strackee (1983): with ``a, b, c`` the
corners relative to ``p`` and ``|.|`` their lengths,

    tan(Omega / 2) = det[a b c] / (|a||b||c| + (a.b)|c| + (b.c)|a| + (c.a)|b|),

evaluated with ``arctan2`` so that ``Omega`` lands in (-2 pi, 2 pi].

The sum is exact but costs one ``arctan2`` per point and triangle, so large meshes are evaluated
hierarchically, as in section 3.2 of Jacobson et al.: the faces are split into a tree of boxes;
for a point outside a node's box, the node's faces contribute exactly minus the winding number of
a *cap*, a fan of triangles from the box centre over the node's boundary edges (the node's faces
plus the cap form a closed surface inside the box, whose winding number outside the box is 0).
The boundary of a patch of a nice surface is much shorter than the patch, so a point far from
most of the mesh visits a few caps instead of every face. Closed parts have no boundary and cost
nothing from outside their box. No approximation is made: in float64 the tree and the direct
sum agree to rounding error (about 1e-12); the float32 default is within about 1e-5 of both.

The tree is evaluated by numpy (:class:`_Tree`, whole blocks of points per node) or, where the
CPU kernels run (:mod:`arena._native`: x86-64 Linux, AVX2 and FMA, a C++ compiler, unless
``ARENA_CPU_KERNELS=0``), by ``_kernels/winding_cpu.cc``: the same tree and caps walked point by
point, eight triangles per AVX2 step, the triple product taken from the corners relative to the
point (more accurate than numpy's ``d0 - p . n``), summed in float32 over a node's triangles
(a leaf's or a cap's; each lane adds an eighth of them) and in float64 across nodes. In float32
both stay within ~1e-5 of the float64 direct sum away from the surface
(tests/test_winding_kernel.py).

Occupancy labels (:func:`label_inside`, ``w > 0.5``) come from one of three labellers, and
:func:`labeller` names the one a ``method`` resolves to, for the manifests of built datasets:

- ``"exact-kernel"`` and ``"exact-numpy"``: the float32 tree above, by the kernel or by numpy.
  ``"exact"``, the default, is the kernel where it runs, else numpy;
- ``"libigl"``: ``igl.fast_winding_number`` of libigl (Barill et al. 2018, "Fast winding numbers
  for soups and clouds"), a Barnes-Hut approximation (expansion order 2, accuracy 2) of the same
  sum over the same cleaned triangles. It is imported only when called (``import arena`` never
  loads it) and names itself ``"libigl-<version>"``.

``"auto"`` is the fastest one here: the kernel, else libigl when it can be imported, else numpy.
On ModelNet10 the labellers agree on all but a few points in 10^5 (points within ~1e-3 of the
surface); ``benchmarks/shape_labelling.py`` measures agreement and the point-set stage's speed.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import importlib.metadata
import warnings
from pathlib import Path

import numpy as np

from arena import _native
from arena.errors import ConfigError

_PAIRS_PER_BLOCK = 1 << 16  # point-triangle pairs per block: 15 scratch arrays of 256 KiB (float32)
_LEAF_FACES = 128  # measured on ModelNet10: 96 to 192 are equally fast, 24 is 1.5x slower


@dataclasses.dataclass(frozen=True)
class _Triangles:
    """Triangles ``(a, b, c)`` with integer-valued weights, laid out for the vectorised kernel."""

    a: np.ndarray  # (3, m) corner coordinates, one row per axis
    b: np.ndarray
    c: np.ndarray
    normal_sum: np.ndarray | None  # (3, m): a x b + b x c + c x a, so det[a-p, b-p, c-p] = d0 - p . n
    d0: np.ndarray | None  # (m,): det[a, b, c]; both None where only the kernel reads them
    weight: np.ndarray  # (m,)

    @classmethod
    def make(cls, a, b, c, weight, dtype, products: bool = True) -> _Triangles:
        """Triangles from corner arrays ``(m, 3)`` (float64), stored in ``dtype``; without
        ``products`` (for the kernel, which takes the triple product itself) no ``normal_sum``, ``d0``."""
        store = lambda x: np.ascontiguousarray(x, dtype)  # noqa: E731
        weight = np.asarray(weight, np.float64)
        if not products:
            return cls(store(a.T), store(b.T), store(c.T), None, None, store(weight))
        normal_sum = np.cross(a, b) + np.cross(b, c) + np.cross(c, a)
        d0 = np.einsum("ij,ij->i", a, np.cross(b, c))
        return cls(*(store(x) for x in (a.T, b.T, c.T, normal_sum.T, d0, weight)))

    def __len__(self) -> int:
        return self.weight.shape[0]

    def chunk(self, start: int, stop: int) -> _Triangles:
        return _Triangles(
            self.a[:, start:stop],
            self.b[:, start:stop],
            self.c[:, start:stop],
            self.normal_sum[:, start:stop],  # numpy's blocks only: trees built with products
            self.d0[start:stop],
            self.weight[start:stop],
        )


# atan(t) ~ t * P(t^2) on [0, 1]: least-squares fit on Chebyshev nodes, |error| < 1.4e-7 in
# float32 arithmetic (float32's own resolution near pi/4 is 6e-8)
_ATAN_COEFFS = (0.99999925, -0.33329538, 0.19943081, -0.13892041,
                0.09601656, -0.0553817, 0.02150925, -0.00396026)  # fmt: skip


class _Workspace:
    """Reusable scratch arrays for the kernel, so blocks allocate nothing (a 2x speed-up)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.flat = np.empty((15, _PAIRS_PER_BLOCK), self.dtype)
        self.masks = np.empty((2, _PAIRS_PER_BLOCK), bool)

    def arrays(self, rows: int, cols: int) -> list[np.ndarray]:
        return [f[: rows * cols].reshape(rows, cols) for f in self.flat]

    def mask_arrays(self, rows: int, cols: int) -> list[np.ndarray]:
        return [f[: rows * cols].reshape(rows, cols) for f in self.masks]


def _atan2_float32(y, x, out, t1, t2, swap, negative):
    """``arctan2(y, x)`` in float32 with a polynomial (|error| < 3.3e-7), in place into ``out``.

    Reduces to ``atan(min(|x|,|y|) / max(|x|,|y|))`` on [0, 1] and unfolds the octant with
    masked subtractions; about 1.4x faster than ``np.arctan2`` (not vectorised in numpy).
    """
    f32 = np.float32
    np.abs(x, out=t1)
    np.abs(y, out=t2)
    np.greater(t2, t1, out=swap)
    np.maximum(t1, t2, out=out)
    np.minimum(t1, t2, out=t1)
    np.maximum(out, f32(1e-30), out=out)
    np.divide(t1, out, out=t1)
    np.multiply(t1, t1, out=t2)
    out.fill(f32(_ATAN_COEFFS[-1]))
    for c in _ATAN_COEFFS[-2::-1]:
        out *= t2
        out += f32(c)
    out *= t1
    np.subtract(f32(np.pi / 2), out, out=out, where=swap)
    np.less(x, 0, out=negative)
    np.subtract(f32(np.pi), out, out=out, where=negative)
    np.copysign(out, y, out=out)


def _length(x, y, z, out, tmp):
    np.multiply(x, x, out=out)
    np.multiply(y, y, out=tmp)
    out += tmp
    np.multiply(z, z, out=tmp)
    out += tmp
    np.sqrt(out, out=out)


def _dot_times(u, v, scale, out, tmp, tmp2):
    """``out += (u . v) * scale`` for vectors given as three component arrays."""
    np.multiply(u[0], v[0], out=tmp)
    for k in (1, 2):
        np.multiply(u[k], v[k], out=tmp2)
        tmp += tmp2
    tmp *= scale
    out += tmp


def _half_angle_block(points: np.ndarray, tri: _Triangles, ws: _Workspace) -> np.ndarray:
    """``sum_t weight_t * Omega_t(p) / 2`` for a block of points ``(r, 3)`` and triangles."""
    r, m = points.shape[0], len(tri)
    ax, ay, az, bx, by, bz, cx, cy, cz, la, lb, lc, den, tmp, det = ws.arrays(r, m)
    corners = ((ax, ay, az), (bx, by, bz), (cx, cy, cz))
    for rel, corner in zip(corners, (tri.a, tri.b, tri.c)):
        for k in range(3):
            np.subtract(corner[k], points[:, k : k + 1], out=rel[k])
    for rel, length in zip(corners, (la, lb, lc)):
        _length(*rel, length, tmp)
    np.multiply(la, lb, out=den)
    den *= lc
    _dot_times(corners[0], corners[1], lc, den, tmp, det)
    _dot_times(corners[1], corners[2], la, den, tmp, det)
    _dot_times(corners[2], corners[0], lb, den, tmp, det)
    np.matmul(points, tri.normal_sum, out=det)
    np.subtract(tri.d0, det, out=det)
    if ws.dtype == np.float32:
        _atan2_float32(det, den, la, ax, ay, *ws.mask_arrays(r, m))
    else:
        np.arctan2(det, den, out=la)
    return la @ tri.weight


def _half_angle_sum(points: np.ndarray, tri: _Triangles, ws: _Workspace) -> np.ndarray:
    """``sum_t weight_t * Omega_t(p) / 2`` for every point, in blocks of bounded memory."""
    out = np.zeros(points.shape[0])
    m = len(tri)
    if m == 0 or points.shape[0] == 0:
        return out
    step = min(m, _PAIRS_PER_BLOCK)
    for start in range(0, m, step):
        sub = tri.chunk(start, start + step)
        rows = max(1, _PAIRS_PER_BLOCK // len(sub))
        for r in range(0, points.shape[0], rows):
            out[r : r + rows] += _half_angle_block(points[r : r + rows], sub, ws)
    return out


def _cap(faces: np.ndarray, vertices: np.ndarray, apex: np.ndarray, dtype, products: bool) -> _Triangles:
    """The fan from ``apex`` over the boundary edges of ``faces``, oriented to close them.

    An undirected edge ``(u, v)``, ``u < v``, used ``k`` more times as ``u -> v`` than as
    ``v -> u`` is a boundary edge of multiplicity ``k``; the cap triangle ``(apex, v, u)`` with
    weight ``k`` cancels it. The weights are returned negated, so that the cap's weighted sum
    equals the contribution of ``faces`` themselves at any point outside their bounding box.
    """
    tail = faces.reshape(-1)
    head = faces[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    sign = np.where(tail < head, 1.0, -1.0)
    keys, inverse = np.unique(lo * np.int64(vertices.shape[0]) + hi, return_inverse=True)
    count = np.bincount(inverse.reshape(-1), weights=sign, minlength=keys.shape[0])
    keep = count != 0
    u, v = np.divmod(keys[keep], vertices.shape[0])
    a = np.broadcast_to(apex, (u.shape[0], 3))
    return _Triangles.make(a, vertices[v], vertices[u], -count[keep], dtype, products)


@dataclasses.dataclass
class _Node:
    lo: np.ndarray
    hi: np.ndarray
    faces: _Triangles | None  # leaves only
    children: tuple[_Node, _Node] | None
    cap: _Triangles | None  # set when a cap is the cheapest way to evaluate from outside
    outside_cost: int  # triangles evaluated per point outside the box


class _Tree:
    """The face hierarchy of one mesh, evaluated for any number of points."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, leaf_faces: int, dtype,
                 products: bool = True):
        self.vertices, self.faces = _clean(vertices, faces)
        self.dtype = dtype
        self.products = products  # False: a tree for the kernel only (see _Triangles.make)
        self.leaf_faces = leaf_faces
        self.root = None
        if self.faces.shape[0]:
            self._centroids = self.vertices[self.faces].mean(axis=1)
            self.root = self._build(np.arange(self.faces.shape[0]))
        extent = float(np.ptp(self.vertices, axis=0).max()) if self.vertices.size else 1.0
        self.tol = 1e-6 * max(extent, 1e-30)

    def _build(self, face_ids: np.ndarray) -> _Node:
        own = self.faces[face_ids]
        corners = self.vertices[own.reshape(-1)]
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        cap = _cap(own, self.vertices, 0.5 * (lo + hi), self.dtype, self.products)
        n = face_ids.shape[0]
        if n <= self.leaf_faces:
            corners = (self.vertices[own[:, k]] for k in range(3))
            tris = _Triangles.make(*corners, np.ones(n), self.dtype, self.products)
            return _Node(lo, hi, tris, None, cap if len(cap) < n else None, min(len(cap), n))
        axis = int(np.argmax(np.ptp(self._centroids[face_ids], axis=0)))
        order = np.argpartition(self._centroids[face_ids, axis], n // 2)
        children = (self._build(face_ids[order[: n // 2]]), self._build(face_ids[order[n // 2 :]]))
        through_children = children[0].outside_cost + children[1].outside_cost
        use_cap = len(cap) < through_children
        cost = min(len(cap), through_children)
        return _Node(lo, hi, None, children, cap if use_cap else None, cost)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        acc = np.zeros(points.shape[0])
        if self.root is not None and points.shape[0]:
            points = np.ascontiguousarray(points, self.dtype)
            ws = _Workspace(self.dtype)
            self._visit(self.root, np.arange(points.shape[0]), points, acc, ws)
        return acc / (2.0 * np.pi)

    def _visit(self, node: _Node, idx: np.ndarray, points, acc, ws) -> None:
        p = points[idx]
        inside = np.all((p >= node.lo - self.tol) & (p <= node.hi + self.tol), axis=1)
        if not inside.all():
            self._from_outside(node, idx[~inside], points, acc, ws)
        idx = idx[inside]
        if idx.size == 0:
            return
        if node.children is None:
            acc[idx] += _half_angle_sum(points[idx], node.faces, ws)
        else:
            for child in node.children:
                self._visit(child, idx, points, acc, ws)

    def _from_outside(self, node: _Node, idx: np.ndarray, points, acc, ws) -> None:
        if node.cap is not None:
            acc[idx] += _half_angle_sum(points[idx], node.cap, ws)
        elif node.children is None:
            acc[idx] += _half_angle_sum(points[idx], node.faces, ws)
        else:
            for child in node.children:
                self._from_outside(child, idx, points, acc, ws)


_KERNEL_SOURCE = Path(__file__).with_name("_kernels") / "winding_cpu.cc"
_LANES = 8  # triangles per AVX2 step; every range in the kernel's store is padded to a multiple


@functools.cache
def _kernel():
    """``(arena_winding_numbers of the compiled kernel, "")``, or ``(None, why it cannot run)``."""
    why = _native.unavailable()
    if why:
        return None, why
    try:
        lib = ctypes.CDLL(str(_native.build(_native.compiler(), _KERNEL_SOURCE, name="winding_cpu")))
    except (OSError, RuntimeError) as err:
        warnings.warn(f"arena: the winding-number kernel is unavailable, labelling with numpy ({err})",
                      stacklevel=3)
        return None, str(err)
    fn = lib.arena_winding_numbers
    pointer = ctypes.c_void_p
    fn.argtypes = [pointer, ctypes.c_int64, pointer, pointer, pointer, pointer, pointer,
                   ctypes.c_int64, pointer]
    fn.restype = None
    return fn, ""


def _kernel_winding_numbers(tree: _Tree, points: np.ndarray) -> np.ndarray:
    """``tree(points)`` (a float32 tree) evaluated by the compiled kernel, one point at a time."""
    fn, _ = _kernel()
    points = np.ascontiguousarray(points, np.float32)
    out = np.zeros(points.shape[0])
    if tree.root is None or points.shape[0] == 0:
        return out
    nodes, child = [tree.root], []
    for node in nodes:  # breadth first: a node's children get the next two free numbers
        child.append((-1, -1) if node.children is None else (len(nodes), len(nodes) + 1))
        nodes.extend(node.children or ())
    blocks, ranges, used = [], {"faces": [], "cap": []}, 0
    for node in nodes:
        for key, tri in (("faces", node.faces), ("cap", node.cap)):
            if tri is None:
                ranges[key].append((0, -1))
                continue
            m = len(tri)
            block = np.zeros((10, -(-m // _LANES) * _LANES), np.float32)  # padding: weight 0
            block[:, :m] = np.concatenate([tri.a, tri.b, tri.c, tri.weight[None]])
            blocks.append(block)
            ranges[key].append((used, block.shape[1]))
            used += block.shape[1]
    rows = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    box = np.array([[*(n.lo - tree.tol), *(n.hi + tree.tol)] for n in nodes], np.float64)
    child = np.array(child, np.int32)
    faces, cap = (np.array(ranges[k], np.int64) for k in ("faces", "cap"))
    fn(rows.ctypes.data, rows.shape[1], box.ctypes.data, child.ctypes.data, faces.ctypes.data,
       cap.ctypes.data, points.ctypes.data, points.shape[0], out.ctypes.data)
    return out


def _clean(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices at equal positions and drop faces of zero area (they subtend no angle)."""
    unique, inverse = np.unique(vertices, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    a, b, c = (unique[faces[:, k]] for k in range(3))
    area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    return unique, faces[area2 > 0]


def mesh_arrays(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """``(float64 (V, 3), int64 (F, 3))`` arrays of a triangle mesh, with face indices checked."""
    vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[0]):
        raise ConfigError(
            f"Face indices must lie in [0, {vertices.shape[0]}); got "
            f"[{faces.min()}, {faces.max()}]."
        )
    return vertices, faces


def winding_numbers(
    vertices,
    faces,
    points,
    *,
    method: str = "tree",
    dtype=np.float32,
    leaf_faces: int = _LEAF_FACES,
) -> np.ndarray:
    """Generalised winding numbers of a triangle mesh at ``points``, float64 ``(n,)``.

    Args:
        vertices: ``(V, 3)`` vertex positions.
        faces: ``(F, 3)`` vertex indices of each triangle, counter-clockwise seen from outside.
        points: ``(n, 3)`` query points.
        method: ``"tree"`` (hierarchical and exact, see the module docstring), ``"kernel"``
            (the same tree evaluated by the compiled CPU kernel, float32 only; a
            :class:`ConfigError` says why where it cannot run) or ``"direct"`` (the plain sum
            over every face: the reference, slow on large meshes).
        dtype: precision of the per-triangle arithmetic. ``float32`` (the default, about twice
            as fast) is off by at most ~1e-4 on meshes of a few thousand faces normalised to the
            unit cube, which moves the 0.5 threshold only for points within ~1e-6 of the
            surface; ``float64`` agrees with the direct sum to ~1e-12.
        leaf_faces: most faces in a leaf of the tree.

    Returns:
        ``w(p)``: 1 inside and 0 outside a closed, outward-oriented surface (-1 inside one that
        is inward-oriented), fractional near holes.

    Example:
        >>> import trimesh
        >>> sphere = trimesh.creation.icosphere(subdivisions=2)
        >>> w = winding_numbers(sphere.vertices, sphere.faces, [[0, 0, 0], [2, 0, 0]])
        >>> np.round(w, 4).tolist()
        [1.0, 0.0]
    """
    vertices, faces = mesh_arrays(vertices, faces)
    points = np.asarray(points, np.float64).reshape(-1, 3)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64; got {dtype}.")
    if method == "direct":
        vertices, faces = _clean(vertices, faces)
        corners = (vertices[faces[:, k]] for k in range(3))
        tris = _Triangles.make(*corners, np.ones(len(faces)), dtype)
        ws = _Workspace(dtype)
        return _half_angle_sum(np.ascontiguousarray(points, dtype), tris, ws) / (2.0 * np.pi)
    if method == "kernel":
        fn, why = _kernel()
        if fn is None:
            raise ConfigError(f"method='kernel' needs the compiled CPU kernel, but {why}; use method='tree'.")
        if dtype != np.float32:
            raise ConfigError(f"method='kernel' computes in float32; got dtype={dtype}.")
        return _kernel_winding_numbers(_Tree(vertices, faces, leaf_faces, dtype, products=False), points)
    if method != "tree":
        raise ConfigError(
            f"Unknown winding-number method '{method}'; use 'tree', 'kernel' or 'direct'."
        )
    return _Tree(vertices, faces, leaf_faces, dtype)(points)


LABEL_METHODS = ("exact", "auto", "libigl", "exact-kernel", "exact-numpy")


def _import_igl():
    """The ``igl`` module of libigl, or ``None`` when it cannot be imported."""
    try:
        import igl
    except ImportError:
        return None
    return igl


def implementation(method: str) -> str:
    """``"exact-kernel"``, ``"exact-numpy"`` or ``"libigl"``: what ``method`` labels with here
    (itself a method, so that worker processes label with what the parent recorded)."""
    if method not in LABEL_METHODS:
        raise ConfigError(
            f"Unknown labelling method '{method}'; use one of {', '.join(LABEL_METHODS)}."
        )
    if method == "libigl":
        if _import_igl() is None:
            raise ConfigError(
                "method='libigl' needs libigl: `pip install neural-field-arena[libigl]`, "
                "or use method='exact'."
            )
        return method
    if method == "exact-numpy":
        return method
    fn, why = _kernel()
    if method == "exact-kernel" and fn is None:
        raise ConfigError(f"method='exact-kernel' needs the compiled CPU kernel, but {why}; "
                          "use method='exact'.")
    if fn is not None:
        return "exact-kernel"
    return "libigl" if method == "auto" and _import_igl() is not None else "exact-numpy"


def labeller(method: str = "exact") -> str:
    """The name of the labeller :func:`label_inside` uses for ``method`` here: ``"exact-kernel"``,
    ``"exact-numpy"`` or ``"libigl-<version>"`` (what built datasets record, so labels of
    different code differ in their manifests). Each name is itself a ``method`` (libigl's
    without the version)."""
    resolved = implementation(method)
    if resolved != "libigl":
        return resolved
    try:
        version = importlib.metadata.version("libigl")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"libigl-{version}"


def label_inside(vertices, faces, points, *, method: str = "exact") -> np.ndarray:
    """Occupancy labels ``w(p) > 0.5`` of a triangle mesh at ``points``, bool ``(n,)``.

    Args:
        vertices, faces, points: as for :func:`winding_numbers`.
        method: ``"exact"`` (the default: the float32 tree of :func:`winding_numbers`, computed
            by the compiled kernel where it runs, else by numpy), ``"auto"`` (the fastest here:
            the kernel, else libigl when installed, else numpy), ``"libigl"`` (libigl's fast
            winding numbers; a :class:`ConfigError` when libigl is missing), or one
            implementation by name: ``"exact-kernel"`` (a :class:`ConfigError` saying why where
            it cannot run) or ``"exact-numpy"``. See the module docstring.

    Example:
        >>> import trimesh
        >>> box = trimesh.creation.box()
        >>> label_inside(box.vertices, box.faces, [[0, 0, 0], [2, 0, 0]]).tolist()
        [True, False]
    """
    resolved = implementation(method)
    if resolved != "libigl":
        how = "kernel" if resolved == "exact-kernel" else "tree"
        return winding_numbers(vertices, faces, points, method=how) > 0.5
    vertices, faces = _clean(*mesh_arrays(vertices, faces))
    points = np.ascontiguousarray(np.asarray(points, np.float64).reshape(-1, 3))
    if faces.shape[0] == 0 or points.shape[0] == 0:
        return np.zeros(points.shape[0], bool)
    igl = _import_igl()
    w = igl.fast_winding_number(np.ascontiguousarray(vertices), np.ascontiguousarray(faces), points)
    return np.asarray(w) > 0.5
