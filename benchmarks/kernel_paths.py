"""The CPU kernel's vector paths side by side: the fitter on MNIST with each path this CPU has.

``python benchmarks/kernel_paths.py [--nefs 1024] [--steps 200] [--rounds 3] [--paths avx2 avx512]``

Each path (``avx2``: 8 lanes; ``avx512``: 16 lanes in AVX-512F registers, on CPUs that have them;
``avx2-16``: the 16-lane code in pairs of AVX2 registers, a correctness aid, not a speed path) runs
in a process of its own (``ARENA_CPU_KERNELS=<path>``: XLA keeps a process's first kernel), in
paired rounds whose order alternates. A process measures the float32 matmul peak (best of numpy,
torch and JAX on 2048^3), then fits the same NeFs as ``benchmarks/fit_throughput.py`` (a), and
prints the path that ran, NeF-steps/s and the share of the peak. The summary is the median per
path, the median of the per-round ratios to ``avx2``, and whether every path reached the same PSNR
bits (they compute the same bits). The last line is JSON. Needs ``$ARENA_DATA/mnist``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import fit_throughput as ft
from _common import mnist_images
from arena.fields import _dense

nefs, steps = int(sys.argv[2]), int(sys.argv[3])
rounds, result = ft.arena_rounds(mnist_images(nefs), steps, 1, "float32")
peaks, rate = rounds[0]
flops = ft.flops_per_nef_step(28 * 28, ft.HIDDEN, 1)
print(json.dumps({"path": _dense.vector_path(), "nef_steps_per_s": rate, "gflops": rate * flops / 1e9,
                  "peak_gflops": max(peaks.values()), "share": 100 * rate * flops / 1e9 / max(peaks.values()),
                  "psnr": float(result.metrics["psnr"].mean())}))
"""


def cpu_paths() -> list[str]:
    from arena import _native

    return ["avx2", "avx512"] if "avx512f" in _native.cpu_flags() else ["avx2"]


def run(path: str, nefs: int, steps: int) -> dict:
    env = {**os.environ, "ARENA_CPU_KERNELS": path}
    done = subprocess.run([sys.executable, "-c", CHILD, str(HERE), str(nefs), str(steps)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the {path} run failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nefs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", nargs="+", choices=("avx2", "avx512", "avx2-16"),
                        help="default: the paths this CPU has (avx2, and avx512 with AVX-512F)")
    args = parser.parse_args()
    paths = args.paths or cpu_paths()
    from arena import _native

    flags = _native.cpu_flags()
    print(f"CPU: {'AVX-512F' if 'avx512f' in flags else 'no AVX-512F'}, {os.cpu_count()} cores; paths {paths}")
    results: dict[str, list[dict]] = {p: [] for p in paths}
    for r in range(args.rounds):
        for path in paths if r % 2 == 0 else paths[::-1]:
            out = run(path, args.nefs, args.steps)
            if out["path"] != path:
                raise SystemExit(f"error: asked for the {path} path, the kernel ran {out['path']}")
            results[path].append(out)
            print(f"round {r + 1} {path:8s} {out['nef_steps_per_s']:10,.0f} NeF-steps/s  {out['gflops']:6.1f} "
                  f"GFLOP/s = {out['share']:5.1f} % of {out['peak_gflops']:.0f}  PSNR {out['psnr']:.4f} dB", flush=True)
    summary = {}
    for path, outs in results.items():
        ratios = [o["nef_steps_per_s"] / a["nef_steps_per_s"] for o, a in zip(outs, results[paths[0]])]
        summary[path] = {"nef_steps_per_s": round(float(np.median([o["nef_steps_per_s"] for o in outs])), 1),
                         "pct_of_matmul_peak": round(float(np.median([o["share"] for o in outs])), 1),
                         f"ratio_to_{paths[0]}": round(float(np.median(ratios)), 3)}
        print(f"{path:8s} median {summary[path]['nef_steps_per_s']:10,.0f} NeF-steps/s, "
              f"{summary[path]['pct_of_matmul_peak']:.1f} % of the peak, {summary[path][f'ratio_to_{paths[0]}']:.3f}x "
              f"{paths[0]} (paired rounds)")
    same = len({o["psnr"] for outs in results.values() for o in outs}) == 1
    print(f"same PSNR on every path and round: {same}")
    print(json.dumps({"paths": summary, "same_psnr": same, "nefs": args.nefs, "steps": args.steps,
                      "rounds": args.rounds, "avx512f": "avx512f" in flags}))


if __name__ == "__main__":
    main()
