"""Build neural datasets with `arena-build` and report wall time, NeFs/s and fit quality.

    python benchmarks/build_datasets.py digits
    python benchmarks/build_datasets.py mnist=../shared/data/mnist cifar10=../shared/data/cifar10/cifar10_lossless_subset.npz
    python benchmarks/build_datasets.py modelnet10=../shared/data/modelnet10/modelnet10_test_off.tar.gz --limit 16
    bash benchmarks/gpu_build.sh                   # on a GPU machine: all 70,000 MNIST NeFs

Each build runs as a fresh `arena-build` process (imports and compilation included) into
`--home` (a fresh local store by default, so nothing is resumed). Quality comes from the
dataset's manifest (per-split means of the per-NeF metrics). The last line is JSON.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="NAME or NAME=SOURCE_PATH")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--home", type=Path, default=None, help="local store to build into (default: a temporary one)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="arena-bench-"))
    exe = Path(sys.executable).with_name("arena-build")
    # without the console script (the package on PYTHONPATH, as on a GPU machine), the same entry point
    launch = [str(exe)] if exe.exists() else [sys.executable, "-c", "from arena.cli.build import main; main()"]
    report = {}
    for spec in args.datasets:
        name, _, source = spec.partition("=")
        cmd = [*launch, name, "--quiet"] + (["--source", source] if source else [])
        cmd += ["--limit", str(args.limit)] if args.limit else []
        t = time.perf_counter()
        out = subprocess.run(cmd, env={**os.environ, "ARENA_HOME": str(home)}, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if out.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
        path = Path(out.stdout.split()[-1])
        m = json.loads((path / "arena.json").read_text())
        n = sum(s["num_examples"] for s in m["splits"].values())
        report[m["name"]] = {"version": m["version"], "nefs": n, "wall_s": round(wall, 1),
                             "nefs_per_s": round(n / wall, 1), "metrics": m["stats"]["metrics"]}
        means = ", ".join(f"{k} {v:.2f}" for k, v in m["stats"]["metrics"]["test"].items())
        print(f"{m['name']} {m['version']}: {n:,} NeFs in {wall:.0f} s ({n / wall:,.1f} NeFs/s); test {means}")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
