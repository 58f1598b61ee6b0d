"""The fit settings: :class:`FitConfig`, whose field defaults are the one source of every default.

:func:`arena.fit.fit`, :func:`make_config` and the builders' recipes (``builders/_recipe.py``)
take their defaults from :class:`FitConfig`'s fields. This module needs neither JAX nor optax
(optax is imported when :meth:`FitConfig.optax` is called), so the recipes read the defaults
without loading JAX.
"""

from __future__ import annotations

import dataclasses
import math

from arena.errors import ConfigError

OPTIMIZERS = ("adam", "adamw")
INITS = ("shared", "random")
# XLA's matmul precision inside the fit. "float32" is exact float32 everywhere; "tensorfloat32"
# lets a GPU round the products' operands to TF32 (faster, coarser fits). CPUs compute float32
# either way (and the CPU kernel is float32 whatever is asked).
PRECISIONS = ("float32", "tensorfloat32")


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Everything that decides a fit's result (recorded in a dataset's manifest).

    Build one with :func:`make_config`, which checks every value; the defaults here are the
    defaults of :func:`arena.fit.fit` and of the recipes.
    """

    steps: int = 500
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    init: str = "shared"
    seed: int = 0
    target: float | None = None
    check_every: int = 50
    precision: str = "float32"

    def optax(self):
        """The optax transformation of ``optimizer`` (Adam, or AdamW with ``weight_decay``)."""
        import optax

        if self.optimizer == "adam":
            return optax.adam(self.lr)
        return optax.adamw(self.lr, weight_decay=self.weight_decay)


SETTINGS = tuple(f.name for f in dataclasses.fields(FitConfig))


def make_config(**settings) -> FitConfig:
    """A validated :class:`FitConfig` from keyword settings (its fields; the others keep their
    defaults). Raises :class:`ConfigError` naming the bad value."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"Unknown fit setting(s) {', '.join(unknown)}; the settings are {', '.join(SETTINGS)}.")
    c = FitConfig(**settings)
    if c.optimizer not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer '{c.optimizer}'; choose one of {list(OPTIMIZERS)}.")
    if c.init not in INITS:
        raise ConfigError(f"Unknown init '{c.init}'; choose one of {list(INITS)}.")
    if c.precision not in PRECISIONS:
        raise ConfigError(f"Unknown matmul precision '{c.precision}'; choose one of {list(PRECISIONS)}.")
    if c.steps < 1 or c.check_every < 1:
        raise ConfigError(f"steps and check_every must be >= 1; got {c.steps}, {c.check_every}.")
    if not (math.isfinite(c.lr) and c.lr > 0) or not math.isfinite(c.weight_decay):
        raise ConfigError(f"lr must be a positive number and weight_decay finite; got {c.lr}, {c.weight_decay}.")
    if c.optimizer == "adam" and c.weight_decay:
        raise ConfigError("Adam has no weight decay: use optimizer='adamw' with weight_decay.")
    return dataclasses.replace(
        c, steps=int(c.steps), lr=float(c.lr), weight_decay=float(c.weight_decay), seed=int(c.seed),
        target=None if c.target is None else float(c.target), check_every=int(c.check_every),
    )
