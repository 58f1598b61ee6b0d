"""Occupancy-fit throughput on real ModelNet10 meshes, and what the feature-major batch buys.

Draws the shape recipes' point sets (100,000 uniform + 100,000 near-surface pool points, winding
number labels) for the first ``--meshes`` ModelNet10 meshes, repeats them to ``--nefs`` NeFs
(throughput does not depend on which shape a NeF fits), and fits occupancy SIRENs 3->32->32->1
(omega0 9) with 4,096 points per step, as the shape builders do. Each round fits the NeFs twice,
with the shipped ``ShapeTask`` and with the sampler before it (the batch handed over as drawn,
``(points, 3)``, so that XLA folded the SIREN's transpose into the first layer's weight
gradient, and the labels gathered from the pool), alternating the order; the paired ratio of
the two times cancels the machine's drift.

    python benchmarks/shape_fit_throughput.py            # ~2 minutes on 2 cores

The last line is JSON: the shipped task's NeF-steps/s and GFLOP/s (3 x forward matmul FLOPs)
and its median speed relative to the previous sampler.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from arena import _xla

_xla.apply_for_command()  # before JAX starts: one single-threaded XLA device per core

from arena import fields, fit, metrics  # noqa: E402
from arena.sources import open_source, shape_points  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from _common import data_dir  # noqa: E402

HIDDEN, POINTS = 32, 4096


@dataclasses.dataclass(frozen=True)
class FoldedBatchTask(fit.ShapeTask):
    """The shape task as it was before: batch as drawn, labels gathered (same draws, same loss)."""

    def loss(self, field, params, data, key):
        idx = self.draw(data, key)
        logits = field.apply(params, data["points"][idx])[:, 0]
        labels = data["occupancy"][idx]
        loss = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()
        return loss, metrics.iou(logits > 0, labels, axis=0)


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
    parser.add_argument("--nefs", type=int, default=52)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    args.source = args.source or str(data_dir() / "modelnet10" / "modelnet10_test_off.tar.gz")

    sets = point_sets(args.source, args.meshes, args.nefs)
    field = fields.Siren(hidden=HIDDEN, layers=3, omega0=9.0, in_dim=3)
    tasks = {"shipped": fit.ShapeTask(points_per_step=POINTS), "previous": FoldedBatchTask(points_per_step=POINTS)}
    data = tasks["shipped"].prepare(*sets)
    for task in tasks.values():  # compile both before timing
        fit.fit(field, task, data, steps=args.steps, progress=False)
    seconds = {name: [] for name in tasks}
    for r in range(args.rounds):
        for name in (list(tasks) if r % 2 == 0 else list(tasks)[::-1]):
            seconds[name].append(fit.fit(field, tasks[name], data, steps=args.steps, progress=False).seconds)
    rate = args.nefs * args.steps / np.median(seconds["shipped"])
    previous = args.nefs * args.steps / np.median(seconds["previous"])
    ratio = float(np.median(np.asarray(seconds["previous"]) / np.asarray(seconds["shipped"])))
    gflops = rate * 3 * 2 * POINTS * (3 * HIDDEN + HIDDEN * HIDDEN + HIDDEN) / 1e9
    print(f"{args.nefs} NeFs ({args.meshes} ModelNet10 meshes repeated) x {args.steps} steps of {POINTS} points, "
          f"{args.rounds} paired rounds (medians)")
    print(f"shipped ShapeTask   {rate:8,.0f} NeF-steps/s  {gflops:5.1f} GFLOP/s")
    print(f"previous sampler    {previous:8,.0f} NeF-steps/s")
    print(f"shipped / previous  {ratio:.2f}x")
    print(json.dumps({"nef_steps_per_s": round(rate, 1), "gflops": round(gflops, 1),
                      "speedup_vs_previous_sampler": round(ratio, 3)}))


if __name__ == "__main__":
    main()
