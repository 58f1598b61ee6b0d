"""Occupancy-fit throughput on real ModelNet10 meshes, fused and unfused, against the image path.

Draws the shape recipes' point sets (100,000 uniform + 100,000 near-surface pool points, winding
number labels) for the first ``--meshes`` ModelNet10 meshes, repeats them to ``--nefs`` NeFs
(throughput does not depend on which shape a NeF fits), and fits occupancy SIRENs 3->32->32->1
(omega0 9) with 4,096 points per step, as the shape builders do, two ways:

- **fused**: the shipped ``ShapeTask`` with ``fields.Siren``, whose ``fused_bce`` runs forward
  pass, binary cross-entropy and every gradient in one CPU kernel call per NeF and step;
- **unfused**: the same task and SIREN without that hook (XLA differentiates ``apply``, whose
  sine-layer products still run through the products kernel): the path before the fused step.

Each round also fits ``--image-nefs`` real MNIST digits with the image SIREN 2->32->32->1
(omega0 30, 784 pixels, the fused image step), the reference the shape path is held to. Every
round times the three in a rotating order; the medians over rounds of the GFLOP/s and of the
per-round ratios (which cancel this shared machine's drift) are reported.

    python benchmarks/shape_fit_throughput.py            # ~3 minutes on 2 cores

GFLOP/s count 3 x the forward matmul FLOPs per NeF and step (forward and two backward products),
as benchmarks/fit_throughput.py does. The last line is JSON: ``shape_gflops`` (fused),
``unfused_gflops``, ``image_gflops``, ``ratio_to_image_path`` (fused over image, per round) and
``speedup_vs_unfused`` (per round), all medians over rounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from arena import _xla

_xla.apply_for_command()  # before JAX starts: one single-threaded XLA device per core

from arena import fields, fit  # noqa: E402
from arena.sources import open_source, shape_points  # noqa: E402

from _common import data_dir, mnist_images  # noqa: E402

HIDDEN, POINTS, PIXELS = 32, 4096, 28 * 28
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclasses.dataclass(frozen=True)
class UnfusedSiren(fields.Siren):
    """The SIREN without its fused occupancy step: ``ShapeTask.loss`` differentiates ``apply``."""

    fused_bce = None


def flops_per_nef_step(points: int, in_dim: int, hidden: int, channels: int) -> float:
    """3 x forward matmul FLOPs (forward + two backward products) per NeF and step."""
    return 3 * 2 * points * (in_dim * hidden + hidden * hidden + hidden * channels)


def point_sets(path, meshes: int, nefs: int):
    source = open_source("modelnet10", path)
    shapes, _, index = source.load(np.arange(meshes))
    sets = [shape_points(mesh.vertices, mesh.faces, seed=int(i)) for mesh, i in zip(shapes, index)]
    picks = [sets[i % meshes] for i in range(nefs)]
    return [np.stack([getattr(s, name) for s in picks]) for name in sets[0]._fields]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="ModelNet10 tarball (default: $ARENA_DATA/modelnet10/modelnet10_test_off.tar.gz)")
    parser.add_argument("--meshes", type=int, default=8)
    parser.add_argument("--nefs", type=int, default=52, help="shape NeFs per fit")
    parser.add_argument("--image-nefs", type=int, default=256, help="MNIST NeFs per image fit")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    if min(args.meshes, args.nefs, args.image_nefs, args.steps, args.rounds) < 1:
        parser.error("--meshes, --nefs, --image-nefs, --steps and --rounds must be at least 1")
    args.source = args.source or str(data_dir() / "modelnet10" / "modelnet10_test_off.tar.gz")

    sets = point_sets(args.source, args.meshes, args.nefs)
    images = mnist_images(args.image_nefs)
    shape_task = fit.ShapeTask(points_per_step=POINTS)
    shape_data = shape_task.prepare(*sets)
    image_kw = dict(mean=MNIST_MEAN, std=MNIST_STD, steps=args.steps, progress=False)
    image_field = fields.Siren(hidden=HIDDEN, layers=3, omega0=30.0)
    runs = {
        "fused": lambda: fit.fit(fields.Siren(hidden=HIDDEN, layers=3, omega0=9.0, in_dim=3), shape_task,
                                 shape_data, steps=args.steps, progress=False),
        "unfused": lambda: fit.fit(UnfusedSiren(hidden=HIDDEN, layers=3, omega0=9.0, in_dim=3), shape_task,
                                   shape_data, steps=args.steps, progress=False),
        "image": lambda: fit.fit_images(image_field, images, **image_kw),
    }
    work = {"fused": args.nefs * args.steps * flops_per_nef_step(POINTS, 3, HIDDEN, 1),
            "unfused": args.nefs * args.steps * flops_per_nef_step(POINTS, 3, HIDDEN, 1),
            "image": args.image_nefs * args.steps * flops_per_nef_step(PIXELS, 2, HIDDEN, 1)}
    for run in runs.values():  # compile all three before timing
        run()
    gflops = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % 3:] + names[: r % 3]:  # rotate the order, so no path always runs first
            gflops[name].append(work[name] / runs[name]().seconds / 1e9)
    g = {name: np.asarray(v) for name, v in gflops.items()}
    ratio = float(np.median(g["fused"] / g["image"]))
    speedup = float(np.median(g["fused"] / g["unfused"]))
    print(f"{args.nefs} shape NeFs ({args.meshes} ModelNet10 meshes repeated) x {args.steps} steps of {POINTS} "
          f"points; {args.image_nefs} MNIST NeFs x {args.steps} steps of {PIXELS} pixels; {args.rounds} rounds")
    for name in runs:
        print(f"{name:8s} {np.median(g[name]):6.1f} GFLOP/s  (rounds: " + ", ".join(f"{v:.1f}" for v in g[name]) + ")")
    print(f"fused shape / image path  {ratio:.2f}   fused / unfused shape  {speedup:.2f}x")
    print(json.dumps({"shape_gflops": round(float(np.median(g["fused"])), 1),
                      "unfused_gflops": round(float(np.median(g["unfused"])), 1),
                      "image_gflops": round(float(np.median(g["image"])), 1),
                      "ratio_to_image_path": round(ratio, 3), "speedup_vs_unfused": round(speedup, 3)}))


if __name__ == "__main__":
    main()
