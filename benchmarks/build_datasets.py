"""Build neural datasets with `arena-build` and report wall time, NeFs/s and fit quality.

    python benchmarks/build_datasets.py digits
    python benchmarks/build_datasets.py mnist=$ARENA_DATA/mnist cifar10=$ARENA_DATA/cifar10/cifar10_lossless_subset.npz
    python benchmarks/build_datasets.py modelnet10=$ARENA_DATA/modelnet10/modelnet10_test_off.tar.gz --limit 16
    python benchmarks/build_datasets.py modelnet10=... --limit 16 --labellers exact-numpy exact-kernel --rounds 2
    bash benchmarks/gpu_build.sh                   # on a GPU machine: all 70,000 MNIST NeFs

Each build runs as a fresh `arena-build` process (imports and compilation included) into
`--home` (a fresh local store by default, so nothing is resumed). Quality comes from the
dataset's manifest (per-split means of the per-NeF metrics). The last line is JSON.

`--labellers` builds each shape dataset once per occupancy labeller (a module setting,
`arena.sources.shapes.LABELLER`, not a CLI option: the process sets it before the CLI runs), each
into its own fresh store, in an order that alternates over `--rounds`; the report keeps each
labeller's fastest build and the wall-time ratio of the first labeller to each other one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


LABELLED = ("import sys; from arena.sources import shapes; shapes.LABELLER = sys.argv.pop(1); "
            "from arena.cli.build import main; main()")  # arena-build with another labeller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="NAME or NAME=SOURCE_PATH")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--home", type=Path, default=None, help="folder for the builds' local stores, one fresh store per build (default: a temporary one)")
    parser.add_argument("--labellers", nargs="+", default=[None], metavar="METHOD",
                        help="shape builds: build once per occupancy labeller (exact-numpy, exact-kernel, libigl, ...)")
    parser.add_argument("--rounds", type=int, default=1, help="builds per labeller, in alternating order")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="arena-bench-"))
    exe = Path(sys.executable).with_name("arena-build")
    # without the console script (the package on PYTHONPATH, as on a GPU machine), the same entry point
    launch = [str(exe)] if exe.exists() else [sys.executable, "-c", "from arena.cli.build import main; main()"]
    report = {}
    labellers = args.labellers
    for spec in args.datasets:
        name, _, source = spec.partition("=")
        for r in range(args.rounds):
            for labeller in (labellers if r % 2 == 0 else labellers[::-1]):
                store = home / f"{name}-{labeller or 'default'}-{r}"  # fresh: nothing resumed
                cmd = ([sys.executable, "-c", LABELLED, labeller] if labeller else launch) + [name, "--quiet"]
                cmd += (["--source", source] if source else []) + (["--limit", str(args.limit)] if args.limit else [])
                t = time.perf_counter()
                out = subprocess.run(cmd, env={**os.environ, "ARENA_HOME": str(store)}, capture_output=True, text=True)
                wall = time.perf_counter() - t
                if out.returncode:
                    sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
                path = Path(out.stdout.strip().splitlines()[-1].removeprefix("built ").strip())
                m = json.loads((path / "arena.json").read_text())
                key = m["name"] + (f"[{m['signal']['sampling']['labeller']}]" if labeller else "")
                n = sum(s["num_examples"] for s in m["splits"].values())
                means = ", ".join(f"{k} {v:.2f}" for k, v in m["stats"]["metrics"]["test"].items())
                print(f"{key} {m['version']}: {n:,} NeFs in {wall:.0f} s ({n / wall:,.1f} NeFs/s); test {means}")
                if key not in report or wall < report[key]["wall_s"]:
                    report[key] = {"version": m["version"], "nefs": n, "wall_s": round(wall, 1),
                                   "nefs_per_s": round(n / wall, 1), "metrics": m["stats"]["metrics"]}
        if len(labellers) > 1:
            walls = [v["wall_s"] for k, v in report.items() if k.startswith(f"neural_{name}[")]
            report[f"neural_{name}: wall-time ratio of the first labeller to the others"] = [
                round(walls[0] / w, 2) for w in walls[1:]]
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
