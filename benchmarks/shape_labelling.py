"""The point-set stage of a shape build under each occupancy labeller: agreement and speed.

For a sample of ModelNet10 meshes (``--source``, else ``$ARENA_DATA/modelnet10``): half of them closed after cleaning (every directed edge used
once each way; about 5 % of the test meshes), half open, the first ones met in a seeded random
order of the source, this runs the whole point-set stage of a shape build,
:func:`arena.sources.shape_points` (clean, normalise, draw the pool, eval and off-grid sets,
240,000 points, and label them), once per labeller: ``exact-numpy`` (the exact tree in numpy, the
default before the compiled kernel: the baseline), ``exact-kernel`` (the same tree evaluated by
the compiled CPU kernel, what ``exact`` resolves to where it runs) and ``libigl`` (when
installed), in an order that rotates from mesh to mesh and round to round (a paired run: all
see the same machine load). Inside each call the labelling itself is timed too, in wall and in
CPU seconds of the process (all of libigl's threads; what a build's one-process-per-core pool
pays). It reports per mesh the faces, closed or open, the times (best of the rounds) and the
fraction of points whose labels (w > 0.5) agree with ``exact-numpy``'s; then per labeller the
pooled agreement and the median speed-ups over the baseline (baseline time / labeller time) of
the labelling and of the whole stage. The table goes to stderr, one JSON line to stdout.

    python benchmarks/shape_labelling.py                 # 16 meshes, a few minutes on 2 idle cores
    python benchmarks/shape_labelling.py --meshes 100 --rounds 2

The target of issue #22 is a point-set stage at least 5x faster than the exact numpy labeller;
the JSON's ``target_met`` says whether the default labeller's median speed-up reaches it.
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
from arena.sources._winding import implementation, labeller

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
    data = os.environ.get("ARENA_DATA")
    parser.add_argument("--source", type=Path, default=Path(data) / "modelnet10" if data else None,
                        help="ModelNet10 folder or archive (default: $ARENA_DATA/modelnet10)")
    parser.add_argument("--meshes", type=int, default=16, help="meshes, half closed, half open")
    parser.add_argument("--rounds", type=int, default=1, help="paired runs per mesh")
    args = parser.parse_args()
    if args.source is None:
        raise SystemExit("Name the ModelNet10 data: --source PATH, or set ARENA_DATA to the folder holding modelnet10/.")
    path = args.source
    if path.is_dir() and not any(path.glob("*/train")) and list(path.glob("*.tar.gz")):
        path = sorted(path.glob("*.tar.gz"))[0]  # the folder holding the test archive
    try:
        source = open_source("modelnet10", path)
    except ArenaError as exc:
        raise SystemExit(str(exc)) from None
    if args.meshes < 1 or args.rounds < 1:
        raise SystemExit(f"--meshes and --rounds must be >= 1; got {args.meshes}, {args.rounds}.")
    base, default_method = "exact-numpy", implementation(shapes.LABELLER)
    names = [base]
    for method in ("exact-kernel", "libigl"):
        try:
            implementation(method)
        except ConfigError as exc:
            print(f"skipping {method}: {exc}", file=sys.stderr)
        else:
            names.append(method)
    names_recorded = {m: labeller(m) for m in names}
    meshes, index, kinds = pick(source, args.meshes)
    others = names[1:]
    rows = []
    print(f"{'index':>6} {'faces':>6} {'kind':>6} | stage s: " + " ".join(f"{m:>12}" for m in names)
          + " | agreement with exact-numpy", file=sys.stderr)
    for k, (mesh, seed, kind) in enumerate(zip(meshes, index, kinds)):
        times = {m: {"stage": [], "label": [], "label_cpu": []} for m in names}
        labels = {}
        for r in range(args.rounds):
            shift = (k + r) % len(names)
            for m in names[shift:] + names[:shift]:
                labels[m], t_stage, t_label, t_cpu = stage(mesh, seed, m)
                times[m]["stage"].append(t_stage)
                times[m]["label"].append(t_label)
                times[m]["label_cpu"].append(t_cpu)
        row = {"index": seed, "faces": int(clean_mesh(*mesh).faces.shape[0]), "kind": kind,
               "points": int(labels[base].size)}
        for m in names:
            for part in ("label", "stage", "label_cpu"):
                row[f"{part}_{m}_s"] = min(times[m][part])
            if m != base:
                row[f"same_{m}"] = int((labels[m] == labels[base]).sum())
                for part in ("label", "stage", "label_cpu"):
                    row[f"speedup_{part}_{m}"] = row[f"{part}_{base}_s"] / row[f"{part}_{m}_s"]
        rows.append(row)
        print(f"{seed:>6} {row['faces']:>6} {kind:>6} | stage s: "
              + " ".join(f"{row[f'stage_{m}_s']:>12.3f}" for m in names) + " | "
              + " ".join(f"{m} {row[f'same_{m}'] / row['points']:.6f}" for m in others), file=sys.stderr)

    def agreement(m, kinds=("closed", "open")):
        chosen = [r for r in rows if r["kind"] in kinds]
        total = sum(r["points"] for r in chosen)
        return sum(r[f"same_{m}"] for r in chosen) / total if total else None

    summary = {"meshes": len(rows), "closed": sum(r["kind"] == "closed" for r in rows),
               "points_per_mesh": rows[0]["points"], "baseline": base,
               "default": names_recorded.get(default_method, default_method), "labellers": {}}
    for m in others:
        median = {p: statistics.median(r[f"speedup_{p}_{m}"] for r in rows)
                  for p in ("label", "stage", "label_cpu")}
        summary["labellers"][m] = {
            "recorded_as": names_recorded[m],
            "agreement": agreement(m), "agreement_closed": agreement(m, ("closed",)),
            "agreement_open": agreement(m, ("open",)),
            "agreement_min": min(r[f"same_{m}"] / r["points"] for r in rows),
            "speedup_label": median["label"], "speedup_point_stage": median["stage"],
            "speedup_label_cpu": median["label_cpu"],
            "speedup_point_stage_total": sum(r[f"stage_{base}_s"] for r in rows)
            / sum(r[f"stage_{m}_s"] for r in rows),
            "median_stage_s": statistics.median(r[f"stage_{m}_s"] for r in rows),
        }
        print(f"{m}: agreement {agreement(m):.6f}; median speed-up over {base}: labelling "
              f"{median['label']:.2f}x, point-set stage {median['stage']:.2f}x", file=sys.stderr)
    summary["median_stage_s_baseline"] = statistics.median(r[f"stage_{base}_s"] for r in rows)
    summary["target_speedup"] = TARGET_SPEEDUP
    chosen = summary["labellers"].get(default_method)
    summary["target_met"] = bool(chosen and chosen["speedup_point_stage"] >= TARGET_SPEEDUP)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
