"""What the SIREN's implementation choices are worth to the fitter, as paired speed ratios.

Each round fits the same MNIST digits with the Arena fitter once per variant (SIREN 2->32->32->1,
omega0 30, Adam), in an order that rotates every round, and divides each variant's time by the
shipped SIREN's time in the same round. The machine's drift (+-10 % between runs here) mostly
cancels in such neighbours, so the median ratio over the rounds is a steadier figure than two
separate throughput runs. Variants:

- ``unfused-step``: the loss and gradients from XLA's autodiff of ``apply`` (the kernel's
  products, XLA's elementwise passes between them) instead of the fused SIREN step kernel,
  which runs forward, MSE and backward tile by tile of pixels in cache;
- ``bias-matvec``: bias gradients as matrix-vector products (a ``custom_jvp`` whose tangent
  spreads the bias with a rank-1 product) instead of XLA's reduction over the points;
- ``xla-products``: the sine layers' products by XLA instead of the Arena's CPU kernel
  (``dense="xla"``; on a CPU where the kernel is unavailable both arms are the same);
- ``pixel-major``: activations laid out (points, features), ``x @ W + b``, instead of
  (features, points), with XLA's products (the kernel is feature-major);
- ``no-sine``: a linear activation in place of the sine (not a SIREN: it bounds what any faster
  sine could gain);
- ``no-bias``: hidden layers without biases (not a SIREN: it bounds what any bias trick could
  gain).

    python benchmarks/fit_ablation.py                       # ~3 minutes on 2 cores
    python benchmarks/fit_ablation.py --variants no-sine --rounds 5

The last line is JSON: the median speed of each variant relative to the shipped SIREN (above 1:
the variant is faster).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import numpy as np

from arena import _xla

_xla.apply_for_command()  # before JAX starts: one single-threaded XLA device per core

from arena import fields, fit  # noqa: E402
from arena.fields import _dense, _sine  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from _common import mnist_images  # noqa: E402


@jax.custom_jvp
def _add_bias_matvec(z, b):
    return z + b[:, None]


@_add_bias_matvec.defjvp
def _add_bias_matvec_jvp(primals, tangents):
    (z, b), (tz, tb) = primals, tangents
    ones = jnp.ones((1, z.shape[-1]), z.dtype)
    return z + b[:, None], tz + jax.lax.dot_general(tb[:, None], ones, (((1,), (0,)), ((), ())))


@dataclasses.dataclass(frozen=True)
class SirenVariant(fields.Siren):
    """The SIREN with one implementation choice changed (``variant``); same parameters."""

    variant: str = "shipped"

    def fused_mse(self, params, coords, values):
        # the shipped SIREN's fused step (Siren.fused_mse steps aside for subclasses that override
        # apply, so ask a plain Siren); every other variant computes its loss from its own apply()
        if self.variant != "shipped":
            return None
        plain = fields.Siren(**{f.name: getattr(self, f.name) for f in dataclasses.fields(fields.Siren)})
        return plain.fused_mse(params, coords, values)

    def apply(self, params, coords):
        if self.variant in ("shipped", "unfused-step"):
            return super().apply(params, coords)
        if self.variant == "xla-products":
            return fields.Siren.apply(dataclasses.replace(self, dense="xla"), params, coords)
        sinpi = _sine.resolve_pi(self.sine)
        act = (lambda u: 0.5 * u) if self.variant == "no-sine" else sinpi
        scale = self.omega0 / math.pi
        last = self.layers - 1
        if self.variant == "pixel-major":
            h = coords
            for i in range(last):
                w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
                h = act(h @ (scale * w) + scale * b)
            return h @ params[f"layers.{last}.weight"] + params[f"layers.{last}.bias"]
        h = coords.T
        for i in range(last):
            w, b = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            z = _dense.matmul((scale * w).T, h, self.dense)
            if self.variant == "bias-matvec":
                z = _add_bias_matvec(z, scale * b)
            elif self.variant != "no-bias":
                z = z + (scale * b)[:, None]
            h = act(z)
        w, b = params[f"layers.{last}.weight"], params[f"layers.{last}.bias"]
        out = w.T @ h
        out = _add_bias_matvec(out, b) if self.variant == "bias-matvec" else out + b[:, None]
        return out.T


VARIANTS = ("unfused-step", "xla-products", "bias-matvec", "pixel-major", "no-sine", "no-bias")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--nefs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    images = mnist_images(args.nefs)
    names = ["shipped", *args.variants]
    models = {name: SirenVariant(hidden=32, layers=3, omega0=30.0, sine="poly", variant=name) for name in names}
    kw = dict(steps=args.steps, mean=0.1307, std=0.3081, progress=False)
    for model in models.values():  # compile every variant before timing
        fit.fit_images(model, images, **kw)
    seconds = {name: [] for name in names}
    for r in range(args.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            seconds[name].append(fit.fit_images(models[name], images, **kw).seconds)
    shipped = np.asarray(seconds["shipped"])
    print(f"{args.rounds} rounds of {args.nefs} NeFs x {args.steps} steps; speed relative to the shipped SIREN")
    print(f"{'shipped':12s} median {np.median(args.nefs * args.steps / shipped):8,.0f} NeF-steps/s")
    summary = {}
    for name in args.variants:
        ratio = shipped / np.asarray(seconds[name])
        q25, q50, q75 = np.percentile(ratio, [25, 50, 75])
        summary[name] = round(float(q50), 3)
        print(f"{name:12s} {q50:.3f}x  (interquartile {q25:.3f}-{q75:.3f})")
    print(json.dumps({"relative_speed": summary, "rounds": args.rounds, "nefs": args.nefs, "steps": args.steps}))


if __name__ == "__main__":
    main()
