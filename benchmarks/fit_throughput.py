"""Fit throughput of the Arena fitter against two baselines, measured in one run.

SIREN 2->32->32->1 fit to real MNIST digits (Adam, lr 1e-3, full batch of 784 pixels):

(a) the Arena fitter (`arena.fit.fit_images`);
(b) a naive loop: one NeF at a time, a Python loop over a jit-compiled step of ``jax.grad`` of
    the MSE of ``field.apply``, with the same model code as (a): the same (polynomial) sine and
    the same sine-layer products (the CPU kernel). Also printed, not a target: (b') the same loop
    on the fitter's own per-NeF loss, which on x86-64 CPUs is the fused SIREN step kernel
    (forward, MSE and gradients in one call), so a/b' is what batching, the scan and the second
    core add on top of that kernel;
(c) the fit-a-nef design: all NeFs' parameters vmapped, their losses summed, one optimizer over
    the stack, a Python loop over jit-compiled steps, XLA's sine and XLA's products.

Each baseline runs twice, in this process (with the XLA settings the Arena applies on CPU) and in a
fresh process with JAX's defaults, and the faster of the two counts, so the ratios are not
flattered by handicapping a baseline. All three compute their matmuls at the same precision
(``--precision``, float32 by default), so the ratios compare designs, not numerics: on a GPU,
JAX's default precision would let the baselines use TF32 while (a) computes exact float32 (on
CPUs the two are the same). Every rate, (a)'s and the baselines', is the best of
``--repeats`` timed runs (3), as the matmul peak is the best of three runs per library.

(a)'s share of the peak is measured in rounds: each round measures the peak, then times one
fit, and the share reported is the median over the rounds of that round's fit GFLOP/s over that
round's peak. On this shared, noisy machine both drift by 10-30 % within minutes; a ratio taken
within a round cancels the drift that separate best-of figures would not.

Prints NeF-steps/s for each, the ratios a/b and a/c, the achieved GFLOP/s of (a) against the
float32 matmul peak measured here (best of numpy, torch and JAX on 2048x2048), and the mean
PSNR (on-grid and off-grid) of (a) after the full step count. The last line is JSON.

``--dense`` picks (a)'s (and (b')'s) fused step as ``Siren(dense=...)`` does: ``auto`` is the CPU
kernel on CPUs and the Pallas kernel on GPUs, ``pallas`` forces the Pallas kernel (interpreted
off GPUs: a dry run only), ``xla`` none. ``--unfused`` also times (a) with ``dense="xla"`` (XLA's
autodiff of ``Siren.apply``, no fused step) in the same process, with its PSNR.

    python benchmarks/fit_throughput.py            # ~4 minutes on 2 cores
    bash benchmarks/gpu_check.sh                   # GPU: all 70,000 digits, float32 then TF32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from arena import _xla

_xla.apply_for_command()  # before JAX starts (the JAX-defaults run sets ARENA_XLA_FLAGS=0)

from arena import fields, fit, metrics  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from _common import best_seconds, matmul_peak_gflops, mnist_images  # noqa: E402

HIDDEN, OMEGA0, LR = 32, 30.0, 1e-3
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # fixed statistics, so every call fits the same task


def flops_per_nef_step(pixels: int, hidden: int, channels: int) -> float:
    """3 x forward matmul FLOPs (forward + two backward products) per NeF and step."""
    return 3 * 2 * pixels * (2 * hidden + hidden * hidden + hidden * channels)


def arena_rounds(images, steps, repeats, precision, dense="auto"):
    """``repeats`` rounds of (matmul peaks, then one timed fit): ``[(peaks, NeF-steps/s)]`` and the
    fastest fit's result."""
    field = fields.Siren(hidden=HIDDEN, layers=3, omega0=OMEGA0, dense=dense)
    task = fit.ImageTask.for_images(images, mean=MNIST_MEAN, std=MNIST_STD)
    block = fit.default_block(field, task, len(images), jax.local_devices())  # fixed, so the warm-up compiles it
    kw = dict(steps=steps, lr=LR, mean=MNIST_MEAN, std=MNIST_STD, precision=precision, chunk_size=block,
              progress=False)
    fit.fit_images(field, images[:64], **kw)  # compile, as the baselines compile before timing
    rounds, results = [], []
    for _ in range(repeats):
        peaks = matmul_peak_gflops(precision=precision)
        results.append(fit.fit_images(field, images, **kw))
        rounds.append((peaks, len(images) * steps / results[-1].seconds))
    return rounds, min(results, key=lambda r: r.seconds)


def _loss_fn(field, task, fused_step: bool = False):
    """One NeF's MSE: of ``field.apply`` (what a user writes; JAX differentiates it), or with
    ``fused_step`` the fitter's own ``task.loss`` (the fused SIREN step kernel where it applies)."""
    if fused_step:
        return lambda params, values: task.loss(field, params, {"values": values}, None)[0]
    coords = jnp.asarray(metrics.pixel_centres(task.height, task.width))
    return lambda params, values: ((field.apply(params, coords) - values) ** 2).mean()


def fused_step_name(dense: str) -> str:
    """Which fused step ``Siren(dense=dense)`` takes in an image fit here."""
    from arena.fields import _dense, _pallas

    if _pallas.selected(dense):
        return "pallas" if jax.default_backend() == "gpu" else "pallas (interpreted)"
    if dense != "xla" and _dense.use_kernel(dense):
        return f"kernel ({_dense.vector_path()})"  # the vector path: avx2, avx512 (or avx2-16, forced)
    return "none"


def naive_rate(images, steps, repeats, fused_step=False, dense="auto"):
    """One NeF at a time: a Python loop over a jitted Adam step (same model and sine as Arena)."""
    field = fields.Siren(hidden=HIDDEN, layers=3, omega0=OMEGA0, dense=dense if fused_step else "auto")
    task = fit.ImageTask.for_images(images, mean=MNIST_MEAN, std=MNIST_STD)
    values = task.prepare(images)["values"]
    loss = _loss_fn(field, task, fused_step)
    opt = optax.adam(LR)

    @jax.jit
    def step(params, state, y):
        g = jax.grad(loss)(params, y)
        updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state

    def run():
        for y in values:
            params = field.init(jax.random.key(0))
            state = opt.init(params)
            y = jnp.asarray(y)
            for _ in range(steps):
                params, state = step(params, state, y)
            jax.block_until_ready(params)

    step(field.init(jax.random.key(0)), opt.init(field.init(jax.random.key(0))), jnp.asarray(values[0]))
    return len(values) * steps / best_seconds(run, repeats)


def fitanef_rate(images, steps, repeats):
    """fit-a-nef's design: vmapped parameters, summed loss, one optimizer, Python loop, XLA sin and dots."""
    field = fields.Siren(hidden=HIDDEN, layers=3, omega0=OMEGA0, sine="xla", dense="xla")
    task = fit.ImageTask.for_images(images, mean=MNIST_MEAN, std=MNIST_STD)
    values = jnp.asarray(task.prepare(images)["values"])
    loss = _loss_fn(field, task)
    opt = optax.adam(LR)

    def total(params, ys):
        return jax.vmap(loss)(params, ys).sum()

    @jax.jit
    def step(params, state, ys):
        g = jax.grad(total)(params, ys)
        updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state

    params = jax.vmap(field.init)(jax.random.split(jax.random.key(0), len(images)))
    state = opt.init(params)
    jax.block_until_ready(step(params, state, values))

    def run():
        p, s = params, state
        for _ in range(steps):
            p, s = step(p, s, values)
        jax.block_until_ready(p)

    return len(images) * steps / best_seconds(run, repeats)


def baselines(args, images) -> dict[str, float]:
    with jax.default_matmul_precision(args.precision):  # the fit's own precision: see the docstring
        return {
            "naive": naive_rate(images[: args.naive_nefs], args.naive_steps, args.repeats),
            "naive_fused": naive_rate(images[: args.naive_nefs], args.naive_steps, args.repeats, fused_step=True,
                                      dense=args.dense),
            "fitanef": fitanef_rate(images[: args.fitanef_nefs], args.fitanef_steps, args.repeats),
        }


def baselines_with_jax_defaults(argv: list[str]) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_CPU_ENABLE_ASYNC_DISPATCH")}
    env["ARENA_XLA_FLAGS"] = "0"
    out = subprocess.run([sys.executable, __file__, *argv, "--baselines-only"], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nefs", type=int, default=1024, help="NeFs fit by the Arena fitter")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--naive-nefs", type=int, default=24)
    parser.add_argument("--naive-steps", type=int, default=200)
    parser.add_argument("--fitanef-nefs", type=int, default=256)
    parser.add_argument("--fitanef-steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of (peak, fit) for (a), timed runs of each baseline; the best rate counts")
    parser.add_argument("--precision", choices=("float32", "tensorfloat32"), default="float32",
                        help="matmul precision of the fit and both baselines (TF32 matters on GPUs only)")
    parser.add_argument("--dense", choices=("auto", "xla", "pallas"), default="auto",
                        help="the SIREN's dense setting for (a) and (b'): which fused step runs (see above)")
    parser.add_argument("--unfused", action="store_true",
                        help="also time (a) without a fused step (dense='xla'), in this process")
    parser.add_argument("--baselines-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1 (got {args.repeats})")

    images = mnist_images(max(args.nefs, args.naive_nefs, args.fitanef_nefs))
    if args.baselines_only:
        print(json.dumps(baselines(args, images)))
        return
    print(f"devices: {jax.devices()}")
    t = time.perf_counter()
    rounds, result = arena_rounds(images[: args.nefs], args.steps, args.repeats, args.precision)
    rates = [rate for _, rate in rounds]
    a = max(rates)
    flops = flops_per_nef_step(28 * 28, HIDDEN, 1)
    shares = [100 * rate * flops / 1e9 / max(peaks.values()) for peaks, rate in rounds]
    step = fused_step_name(args.dense)
    print(f"(a) arena fitter      {a:12,.0f} NeF-steps/s  ({args.nefs} NeFs x {args.steps} steps, best of "
          f"{args.repeats}: " + ", ".join(f"{r:,.0f}" for r in rates) + f"; {args.precision} matmuls; "
          f"fused step: {step})")
    unfused = {}
    if args.unfused:
        u_rounds, u_result = arena_rounds(images[: args.nefs], args.steps, args.repeats, args.precision, dense="xla")
        u = max(rate for _, rate in u_rounds)
        unfused = {
            "unfused_nef_steps_per_s": round(u, 1),
            "speedup_vs_unfused": round(a / u, 2),
            "unfused_psnr_mean": round(float(u_result.metrics["psnr"].mean()), 2),
            "unfused_psnr_offgrid_mean": round(float(u_result.metrics["psnr_offgrid"].mean()), 2),
        }
        print(f"(a') arena, unfused   {u:12,.0f} NeF-steps/s  (dense='xla': XLA's autodiff of Siren.apply; "
              f"a/a' = {a / u:.2f}x; PSNR {unfused['unfused_psnr_mean']:.2f} dB on-grid, "
              f"{unfused['unfused_psnr_offgrid_mean']:.2f} dB off-grid)")
    here = baselines(args, images)
    default = baselines_with_jax_defaults(sys.argv[1:])
    b, c = max(here["naive"], default["naive"]), max(here["fitanef"], default["fitanef"])
    print(f"(b) naive loop        {b:12,.0f} NeF-steps/s  ({args.naive_nefs} NeFs x {args.naive_steps} steps; "
          f"{here['naive']:,.0f} with Arena's XLA settings, {default['naive']:,.0f} with JAX defaults)")
    b_fused = max(here["naive_fused"], default["naive_fused"])
    print(f"(b') naive, fused step {b_fused:11,.0f} NeF-steps/s  (the same loop on task.loss; "
          f"{here['naive_fused']:,.0f} with Arena's XLA settings, {default['naive_fused']:,.0f} with JAX defaults)")
    print(f"(c) fit-a-nef design  {c:12,.0f} NeF-steps/s  ({args.fitanef_nefs} NeFs x {args.fitanef_steps} steps; "
          f"{here['fitanef']:,.0f} with Arena's XLA settings, {default['fitanef']:,.0f} with JAX defaults)")
    gflops = a * flops / 1e9
    pct = float(np.median(shares))
    psnr, psnr_off = float(result.metrics["psnr"].mean()), float(result.metrics["psnr_offgrid"].mean())
    for i, (peaks, rate) in enumerate(rounds):
        print(f"round {i + 1}: matmul peak GFLOP/s " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
              + f"; fit {rate * flops / 1e9:.0f} GFLOP/s = {shares[i]:.1f} % of the round's peak")
    print(f"a/b = {a / b:.1f}x   a/b' = {a / b_fused:.1f}x   a/c = {a / c:.1f}x   best fit {gflops:.0f} GFLOP/s; "
          f"median share of the round's peak {pct:.1f} %")
    print(f"PSNR after {args.steps} steps: {psnr:.2f} dB on-grid, {psnr_off:.2f} dB off-grid  "
          f"(total {time.perf_counter() - t:.0f} s)")
    print(json.dumps({
        "nef_steps_per_s": round(a, 1),
        "nef_steps_per_s_runs": [round(r, 1) for r in rates],
        "speedup_vs_naive": round(a / b, 2),
        "speedup_vs_naive_fused_step": round(a / b_fused, 2),
        "speedup_vs_fitanef_design": round(a / c, 2),
        "pct_of_matmul_peak": round(pct, 1),
        "pct_of_matmul_peak_rounds": [round(x, 1) for x in shares],
        "psnr_mean": round(psnr, 2),
        "psnr_offgrid_mean": round(psnr_off, 2),
        "gflops": round(gflops, 1),
        "matmul_peak_gflops": round(max(max(p.values()) for p, _ in rounds), 1),
        "device": str(jax.devices()[0].platform),
        "precision": args.precision,
        "fused_step": step,
        **unfused,
    }))


if __name__ == "__main__":
    main()
