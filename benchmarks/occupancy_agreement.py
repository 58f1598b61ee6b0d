"""How often winding-number occupancy agrees with two independent inside tests, on real meshes.

On the ModelNet10 meshes (``modelnet10_test_off.tar.gz`` or any ModelNet10 copy), for a sample of
meshes, this labels the fitting pool of :func:`arena.sources.sample_points` (half uniform, half
near-surface points in the normalised cube) three ways:

- **winding**: generalised winding number > 0.5 of the cleaned mesh (what the builders use;
  ``clean_mesh`` keeps one copy of faces that two-sided exports duplicate reversed);
- **ray parity**: an odd number of surface crossings along a ray, majority of 3 random
  directions; only meaningful on closed meshes, so it runs on the closed, consistently oriented
  ones (every edge used once in each direction after merging equal vertex positions);
- **voxel fill**: surface samples rasterised on an R^3 grid of the cube, sealed by one dilation,
  with ``scipy.ndimage.binary_fill_holes`` giving the interior; points in or next to a surface
  voxel are left out (their voxel is ambiguous). It runs on every sampled mesh; open meshes leak
  (their interior is not enclosed), so disagreement there measures the data, not an error.

It reports, per method, the mean and minimum over meshes of the fraction of points whose labels
agree with the winding number, how many meshes come out empty with and without
``clean_mesh``, and the winding number's speed (``sample_points`` wall time:
sampling, tree and evaluation). On closed meshes it also checks ray parity against
``round(w) mod 2``, which must agree even where closed parts overlap (w = 2 there: inside for the
winding number, outside for parity). Per-mesh lines go to stderr, the
summary as one JSON line to stdout.

    python benchmarks/occupancy_agreement.py --limit 8        # about a minute on 2 CPU cores
    python benchmarks/occupancy_agreement.py --limit 1000     # every closed mesh, 1000 others
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from arena.sources import (
    clean_mesh,
    normalize_vertices,
    open_source,
    sample_points,
    sample_surface,
    winding_numbers,
)



def is_closed(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Every directed edge once, and its reverse once, after merging equal positions."""
    unique, inverse = np.unique(vertices, axis=0, return_inverse=True)
    faces = inverse.reshape(-1)[faces]
    tail, head = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    forward = np.sort(tail * len(unique) + head)
    backward = np.sort(head * len(unique) + tail)
    return bool(np.all(np.diff(forward) > 0) and np.array_equal(forward, backward))


def ray_parity(vertices, faces, points, *, seed: int = 0, block: int = 1 << 22) -> np.ndarray:
    """Inside by the parity of ray crossings (Moller-Trumbore), majority over 3 directions."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    votes = np.zeros(len(points), np.int64)
    for direction in np.random.default_rng(seed).normal(size=(3, 3)):
        direction /= np.linalg.norm(direction)
        h, g, n = np.cross(direction, e2), np.cross(e1, direction), np.cross(e1, e2)
        det = np.einsum("ij,ij->i", e1, h)
        ok = np.abs(det) > 1e-12
        inv = 1.0 / det[ok]
        frames = [(m[ok], np.einsum("ij,ij->i", a[ok], m[ok])) for m in (h, g, n)]
        rows = max(1, block // max(1, ok.sum()))
        for start in range(0, len(points), rows):
            p = points[start : start + rows]
            u, v, t = ((p @ m.T - am) * inv for m, am in frames)
            hits = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
            votes[start : start + rows] += hits.sum(axis=1) % 2
    return votes >= 2


def voxel_fill(vertices, faces, points, *, grid: int, seed: int = 0):
    """``(inside, usable)``: flood-fill labels and the points away from surface voxels."""
    pitch = 2.0 / grid
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
    count = int(np.clip(area / (pitch / 4) ** 2, 100_000, 4_000_000))
    surface = sample_surface(vertices, faces, count, np.random.default_rng(seed))
    shell = np.zeros((grid,) * 3, bool)
    for cloud in (surface, vertices):
        cells = np.clip(((cloud + 1.0) / pitch).astype(np.int64), 0, grid - 1)
        shell[tuple(cells.T)] = True
    shell = ndimage.binary_dilation(shell)
    interior = ndimage.binary_fill_holes(shell) & ~shell
    cells = tuple(np.clip(((points + 1.0) / pitch).astype(np.int64), 0, grid - 1).T)
    return interior[cells], ~shell[cells]


def pick_evenly(items: list, count: int) -> list:
    if count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def scan(source, chunk: int = 100):
    """Positions of every mesh and of the closed ones (parses every mesh once)."""
    closed = []
    for start in range(0, len(source), chunk):
        positions = np.arange(start, min(start + chunk, len(source)))
        meshes, _, _ = source.load(positions)
        closed += [int(p) for p, m in zip(positions, meshes) if is_closed(*m)]
    return list(range(len(source))), closed


def evaluate(source, position: int, mesh, label: int, closed: bool, args) -> dict:
    cleaned = clean_mesh(*mesh)
    vertices, faces = normalize_vertices(cleaned.vertices), cleaned.faces
    half = args.points // 2
    start = time.perf_counter()
    points, inside = sample_points(mesh.vertices, mesh.faces, n_uniform=half, n_surface=half,
                                   seed=position)
    seconds = time.perf_counter() - start
    points = points.astype(np.float64)
    row = {"position": position, "name": source.names[position], "label": int(label),
           "faces": int(len(mesh.faces)), "closed": closed, "winding_seconds": seconds,
           "inside_fraction": float(inside.mean())}
    if closed:
        parity = ray_parity(vertices, faces, points)
        row["ray_parity_agreement"] = float((parity == inside).mean())
        # parity counts crossings mod 2, so it must equal round(w) mod 2 even where parts
        # overlap (w = 2: inside for the winding number, "outside" for parity)
        w = winding_numbers(vertices, faces, points)
        row["ray_parity_vs_winding_mod_2"] = float((parity == (np.rint(w) % 2 == 1)).mean())
        row["winding_above_1.5"] = float((w > 1.5).mean())
    filled, usable = voxel_fill(vertices, faces, points, grid=args.grid, seed=position)
    # the same points labelled from the raw mesh, without clean_mesh (same normalisation)
    raw = np.asarray(mesh.vertices, np.float64)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    raw_lo, raw_hi = cleaned.vertices.min(axis=0), cleaned.vertices.max(axis=0)
    scale = (hi - lo).max() / (raw_hi - raw_lo).max()
    raw = (raw - 0.5 * (raw_lo + raw_hi)) * scale
    row["inside_fraction_without_cleaning"] = float(
        (winding_numbers(raw, mesh.faces, points) > 0.5).mean())
    row["voxel_fill_agreement"] = float((filled[usable] == inside[usable]).mean())
    row["voxel_fill_usable"] = float(usable.mean())
    return row


def summary(rows: list[dict], key: str, where=lambda r: True) -> dict:
    values = [r[key] for r in rows if key in r and where(r)]
    if not values:
        return {"meshes": 0}
    return {"meshes": len(values), "mean": round(float(np.mean(values)), 5),
            "min": round(float(np.min(values)), 5)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sources = os.environ.get("ARENA_SOURCE_DIR") or os.environ.get("ARENA_DATA")
    default = Path(sources) / "modelnet10" if sources else None
    parser.add_argument("--source", type=Path, default=default, required=default is None,
                        help="ModelNet10 zip, tarball or folder (default: $ARENA_SOURCE_DIR/modelnet10, "
                             "else $ARENA_DATA/modelnet10)")
    parser.add_argument("--limit", type=int, default=8,
                        help="closed meshes and other meshes to evaluate, each (default 8)")
    parser.add_argument("--points", type=int, default=20_000, help="points per mesh")
    parser.add_argument("--grid", type=int, default=128, help="voxel grid resolution")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    source = open_source("modelnet10", args.source)
    every, closed = scan(source)
    scanned = time.perf_counter() - started
    chosen_closed = pick_evenly(closed, args.limit)
    others = [p for p in pick_evenly(every, args.limit) if p not in chosen_closed]
    positions = sorted(chosen_closed + others)
    meshes, labels, _ = source.load(positions)
    rows = []
    for position, mesh, label in zip(positions, meshes, labels):
        row = evaluate(source, position, mesh, int(label), position in closed, args)
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    per_100k = [1e5 * r["winding_seconds"] / args.points for r in rows]
    result = {
        "benchmark": "occupancy_agreement",
        "source": source.revision,
        "meshes_scanned": len(every),
        "closed_meshes": len(closed),
        "meshes_evaluated": len(rows),
        "points_per_mesh": args.points,
        "ray_parity_vs_winding_on_closed": summary(rows, "ray_parity_agreement"),
        "ray_parity_vs_winding_mod_2_on_closed": summary(rows, "ray_parity_vs_winding_mod_2"),
        "winding_above_1.5_on_closed": summary(rows, "winding_above_1.5"),
        "voxel_fill_vs_winding_on_closed": summary(rows, "voxel_fill_agreement",
                                                   lambda r: r["closed"]),
        "voxel_fill_vs_winding_on_open": summary(rows, "voxel_fill_agreement",
                                                 lambda r: not r["closed"]),
        "voxel_fill_usable_fraction": summary(rows, "voxel_fill_usable"),
        "inside_fraction": summary(rows, "inside_fraction"),
        "inside_fraction_without_cleaning": summary(rows, "inside_fraction_without_cleaning"),
        "meshes_empty": sum(r["inside_fraction"] < 1e-3 for r in rows),
        "meshes_empty_without_cleaning": sum(
            r["inside_fraction_without_cleaning"] < 1e-3 for r in rows),
        "winding_seconds_per_100k_points": {
            "median": round(float(np.median(per_100k)), 3),
            "max": round(float(np.max(per_100k)), 3),
        },
        "faces": {"median": int(np.median([r["faces"] for r in rows])),
                  "max": int(max(r["faces"] for r in rows))},
        "grid": args.grid,
        "scan_seconds": round(scanned, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
