"""Time the README's main job, `arena demo`, as a fresh machine runs it (empty local store).

    python benchmarks/main_job.py

Runs `arena demo` in a new process with a new, empty `ARENA_HOME` (so Neural Digits is built,
not reused) and prints its wall time (imports, compilation, build and 3-seed evaluation
included), the build and evaluation times it reports, and the test accuracy. The target is
under 5 minutes. The last line is JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="arena-main-job-"))
    exe = Path(sys.executable).with_name("arena")
    t = time.perf_counter()
    out = subprocess.run([str(exe), "demo"], env={**os.environ, "ARENA_HOME": str(home), "COLUMNS": "120"},
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(f"arena demo failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    doc = json.loads((home / "results" / "neural_digits" / "baseline-mlp.json").read_text())
    build = re.search(r"build wall time \(compile included\)\s*│\s*([\d.]+) s", out.stdout)
    shutil.rmtree(home, ignore_errors=True)
    s = doc["summary"]
    report = {"wall_s": round(wall, 1), "build_s": float(build.group(1)) if build else None,
              "test_mean": round(100 * s["test_mean"], 2), "test_std": round(100 * s["test_std"], 2),
              "seeds": s["num_seeds"]}
    print(f"arena demo on an empty store: {wall:.0f} s wall (build {report['build_s']} s); "
          f"baseline:mlp on neural_digits: test {report['test_mean']:.2f} ± {report['test_std']:.2f} % "
          f"over {report['seeds']} seeds")
    print(json.dumps(report))


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
