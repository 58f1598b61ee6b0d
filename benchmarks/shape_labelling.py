"""libigl's fast winding numbers against the exact ones, on ModelNet10: agreement and speed.

For a sample of ModelNet10 meshes (from ``$ARENA_DATA/modelnet10``, default
``/work/shared/data/modelnet10``): half of them closed after cleaning (every directed edge used
once each way; about 5 % of the test meshes), half open, the first ones met in a seeded random
order of the source, this runs the whole
point-set stage of a shape build, :func:`arena.sources.shape_points` (clean, normalise, draw the
pool, eval and off-grid sets, 240,000 points, and label them), once with ``labeller="exact"``
and once with ``labeller="libigl"``, in alternating order from mesh to mesh and round to round
(a paired run: both see the same machine load). Inside each call the labelling itself is timed
too, in wall and in CPU seconds of the process (all of libigl's threads; what a build's
one-process-per-core pool pays). It reports per mesh the faces, closed or open, the times (best
of the rounds) and the fraction of points whose occupancy labels (w > 0.5) agree; then the pooled
agreement over all, closed and open meshes, and the median speed-ups (exact time / libigl time)
of the labelling and of the whole stage. The table goes to stderr, one JSON line to stdout.

    python benchmarks/winding_libigl.py                 # 16 meshes, about 2 minutes on 2 idle cores
    python benchmarks/winding_libigl.py --meshes 100 --rounds 2

The target of issue #22 is a point-set stage at least 5x faster; the JSON's ``target_met`` says
whether the median speed-up reaches it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import arena.sources.shapes as shapes
from arena.errors import ArenaError, ConfigError
from arena.sources import clean_mesh, open_source
from arena.sources._winding import labeller

TARGET_SPEEDUP = 5.0


def is_closed(faces: np.ndarray) -> bool:
    """Every directed edge once, and its reverse once (faces of an already cleaned mesh)."""
    n = int(faces.max()) + 1
    tail, head = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    forward = np.sort(tail * n + head)
    backward = np.sort(head * n + tail)
    return bool(np.all(np.diff(forward) > 0) and np.array_equal(forward, backward))


class _LabelTimer:
    """Wraps ``shapes.label_inside`` to time the labelling inside ``shape_points``."""

    def __init__(self):
        self.inner = shapes.label_inside
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __call__(self, *args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        out = self.inner(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.cpu_seconds += time.process_time() - cpu
        return out


def pick(source, count: int, chunk: int = 64) -> tuple[list, list[int], list[str]]:
    """``count // 2`` closed and ``count - count // 2`` open meshes, in a seeded random order."""
    want = {"closed": count // 2, "open": count - count // 2}
    got = []
    order = np.random.default_rng(0).permutation(len(source))
    for start in range(0, len(order), chunk):
        positions = order[start:start + chunk]
        meshes, _, index = source.load(positions)
        for mesh, seed in zip(meshes, index):
            kind = "closed" if is_closed(clean_mesh(*mesh).faces) else "open"
            if want[kind]:
                want[kind] -= 1
                got.append((int(seed), mesh, kind))
        if not any(want.values()):
            break
    got.sort(key=lambda item: item[0])
    return [g[1] for g in got], [g[0] for g in got], [g[2] for g in got]


def stage(mesh, seed: int, method: str) -> tuple[np.ndarray, float, float, float]:
    """``(labels of all 240,000 points, stage seconds, labelling seconds, labelling CPU s)``."""
    timer = _LabelTimer()
    shapes.label_inside = timer
    try:
        start = time.perf_counter()
        sets = shapes.shape_points(mesh.vertices, mesh.faces, seed=seed, labeller=method)
        seconds = time.perf_counter() - start
    finally:
        shapes.label_inside = timer.inner
    labels = np.concatenate([sets.occupancy, sets.eval_occupancy, sets.offgrid_occupancy])
    return labels, seconds, timer.seconds, timer.cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(os.environ.get("ARENA_DATA", "/work/shared/data")) / "modelnet10"
    parser.add_argument("--source", type=Path, default=default, help="ModelNet10 folder or archive")
    parser.add_argument("--meshes", type=int, default=16, help="meshes, half closed, half open")
    parser.add_argument("--rounds", type=int, default=1, help="paired runs per mesh")
    args = parser.parse_args()
    path = args.source
    if path.is_dir() and not any(path.glob("*/train")) and list(path.glob("*.tar.gz")):
        path = sorted(path.glob("*.tar.gz"))[0]  # the folder holding the test archive
    try:
        source = open_source("modelnet10", path)
    except ArenaError as exc:
        raise SystemExit(str(exc)) from None
    if args.meshes < 1 or args.rounds < 1:
        raise SystemExit(f"--meshes and --rounds must be >= 1; got {args.meshes}, {args.rounds}.")
    try:
        fast = labeller("libigl")
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    meshes, index, kinds = pick(source, args.meshes)
    names = ("exact", "libigl")
    rows, agree = [], {"closed": [0, 0], "open": [0, 0]}
    print(f"{'index':>6} {'faces':>6} {'kind':>6} | {'label exact':>11} {'libigl':>7} "
          f"{'x':>5} | {'stage exact':>11} {'libigl':>7} {'x':>5} | agreement", file=sys.stderr)
    for k, (mesh, seed, kind) in enumerate(zip(meshes, index, kinds)):
        times = {m: {"stage": [], "label": [], "label_cpu": []} for m in names}
        labels = {}
        for r in range(args.rounds):
            order = names if (k + r) % 2 == 0 else names[::-1]
            for m in order:
                labels[m], t_stage, t_label, t_cpu = stage(mesh, seed, m)
                times[m]["stage"].append(t_stage)
                times[m]["label"].append(t_label)
                times[m]["label_cpu"].append(t_cpu)
        same = int((labels["exact"] == labels["libigl"]).sum())
        agree[kind][0] += same
        agree[kind][1] += labels["exact"].size
        row = {"index": seed, "faces": int(clean_mesh(*mesh).faces.shape[0]), "kind": kind,
               "agreement": same / labels["exact"].size}
        for part in ("label", "stage", "label_cpu"):
            for m in names:
                row[f"{part}_{m}_s"] = min(times[m][part])
            row[f"speedup_{part}"] = row[f"{part}_exact_s"] / row[f"{part}_libigl_s"]
        rows.append(row)
        print(f"{seed:>6} {row['faces']:>6} {kind:>6} | {row['label_exact_s']:>11.2f} "
              f"{row['label_libigl_s']:>7.2f} {row['speedup_label']:>5.2f} | "
              f"{row['stage_exact_s']:>11.2f} {row['stage_libigl_s']:>7.2f} "
              f"{row['speedup_stage']:>5.2f} | {row['agreement']:.6f}", file=sys.stderr)

    def pooled(kinds):
        same, total = (sum(agree[k][i] for k in kinds) for i in (0, 1))
        return same / total if total else None

    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]
              if key.endswith("_s") or key.startswith("speedup")}
    summary = {
        "meshes": len(rows),
        "closed": sum(r["kind"] == "closed" for r in rows),
        "points_per_mesh": int(agree["closed"][1] + agree["open"][1]) // len(rows),
        "labeller": fast,
        "agreement": pooled(("closed", "open")),
        "agreement_closed": pooled(("closed",)),
        "agreement_open": pooled(("open",)),
        "agreement_min": min(r["agreement"] for r in rows),
        "speedup_label": median["speedup_label"],
        "speedup_point_stage": median["speedup_stage"],
        "speedup_label_cpu": median["speedup_label_cpu"],
        "speedup_label_total": sum(r["label_exact_s"] for r in rows)
        / sum(r["label_libigl_s"] for r in rows),
        "speedup_point_stage_total": sum(r["stage_exact_s"] for r in rows)
        / sum(r["stage_libigl_s"] for r in rows),
        "medians": {k: round(v, 4) for k, v in median.items() if k.endswith("_s")},
        "target_speedup": TARGET_SPEEDUP,
    }
    summary["target_met"] = summary["speedup_point_stage"] >= TARGET_SPEEDUP
    print(f"agreement {summary['agreement']:.6f} (closed {summary['agreement_closed']}, open "
          f"{summary['agreement_open']}); median speed-up: labelling {summary['speedup_label']:.2f}x, "
          f"point-set stage {summary['speedup_point_stage']:.2f}x (target {TARGET_SPEEDUP:.0f}x)",
          file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
