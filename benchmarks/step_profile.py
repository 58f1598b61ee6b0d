"""Where a SIREN fit's step spends its time: XLA's own profile of the compiled loop, per operation.

Fits MNIST digits (SIREN 2->32->32->1, omega0 30, Adam) once with the shipped SIREN (the fused
step: one ``arena_siren_mse`` call per step on x86-64 CPUs) and once with the loss and gradients
from XLA's autodiff of ``apply`` (the kernel's products, XLA's passes between them), each under
``jax.profiler``, and prints each arm's operations by their share of the time spent in
operations, grouped as calls into the Arena's CPU kernels, XLA's matrix products, and the rest
(XLA's elementwise passes, reductions, Adam, the loop). Shares, not rates: the profiler slows every
operation a little. In the fused arm the kernel calls are the fused step (and the final
metrics' products, once per block); in the other they are the sine layers' products.

    python benchmarks/step_profile.py            # ~1 minute on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import re
import tempfile

from arena import _xla

_xla.apply_for_command()  # before JAX starts: one single-threaded XLA device per core

from arena import fields, fit  # noqa: E402

import jax  # noqa: E402

from _common import mnist_images  # noqa: E402
from fit_ablation import SirenVariant  # noqa: E402


def op_times(trace_dir: str) -> collections.Counter:
    """Microseconds per compiled operation (thunk) in the profile written to ``trace_dir``."""
    path = glob.glob(f"{trace_dir}/plugins/profile/*/perfetto_trace.json.gz")[-1]
    events = json.load(gzip.open(path))["traceEvents"]
    times = collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") != "X" or name.startswith(("$", "end:", "np.", "Threadpool", "Pjit")) or "Execut" in name:
            continue
        if re.fullmatch(r"(while|conditional|call)(\.\d+)?", name):  # containers: their body is counted
            continue
        times[name] += e.get("dur", 0)
    return times


def group(name: str) -> str:
    """The kind of a compiled operation: a call into the Arena's CPU library (``arena_dense_*``
    products, or the fused step ``arena_siren_mse``), an XLA matrix product, or anything else."""
    if name.startswith("ffi_call") or name.startswith("custom-call"):
        return "Arena kernel calls"
    if re.fullmatch(r"dot(\.\d+)?", name):
        return "XLA products"
    return "other XLA operations"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nefs", type=int, default=48)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    images = mnist_images(args.nefs)
    kw = dict(steps=args.steps, lr=1e-3, mean=0.1307, std=0.3081, progress=False)
    summary = {}
    for label, field in (("fused step", fields.Siren(hidden=32, layers=3, omega0=30.0)),
                         ("autodiff of apply", SirenVariant(hidden=32, layers=3, omega0=30.0, variant="unfused-step"))):
        fit.fit_images(field, images, **kw)  # compile outside the profile
        with tempfile.TemporaryDirectory() as tmp:
            with jax.profiler.trace(tmp, create_perfetto_trace=True):
                fit.fit_images(field, images, **kw)
            times = op_times(tmp)
        total = sum(times.values())
        groups = collections.Counter()
        for name, t in times.items():
            groups[group(name)] += t
        print(f"{label}: {total / 1e3:.0f} ms in operations; the largest: "
              + ", ".join(f"{n} {100 * t / total:.1f} %" for n, t in times.most_common(4)))
        for g, t in groups.most_common():
            print(f"  {g:22s} {100 * t / total:5.1f} %")
        summary[label] = {g: round(100 * t / total, 1) for g, t in groups.items()}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
