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
from arena.nef._common import is_number, is_whole, plain

OPTIMIZERS = ("adam", "adamw")
INITS = ("shared", "random")
# XLA's matmul precision inside the fit. "float32" is exact float32 everywhere; "tensorfloat32"
# lets a GPU round the products' operands to TF32 (faster, coarser fits). CPUs compute float32
# either way (and the CPU kernel is float32 whatever is asked).
PRECISIONS = ("float32", "tensorfloat32")
# The largest values a fit can use (the builders' --set refuses the same, builders/_recipe.py):
MAX_STEPS = 2**31 - 1  # JAX counts steps in 32-bit integers
MAX_SEED = 2**32 - 1  # JAX keeps a seed's low 32 bits: 2**32 would fit as 0 does, -1 as 2**32 - 1


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
    steps = integer("steps", c.steps, 1, MAX_STEPS)
    check_every = integer("check_every", c.check_every, 1, MAX_STEPS)
    lr, weight_decay = real("lr", c.lr), real("weight_decay", c.weight_decay)
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive finite number; got {c.lr!r}.")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ConfigError(f"weight_decay must be a finite number >= 0; got {c.weight_decay!r}.")
    if c.optimizer == "adam" and c.weight_decay:
        raise ConfigError("Adam has no weight decay: use optimizer='adamw' with weight_decay.")
    target = None if c.target is None else real("target", c.target)
    if target is not None and not math.isfinite(target):
        raise ConfigError(f"target must be a finite quality (PSNR in dB, or IoU) or None; got {c.target!r}.")
    return dataclasses.replace(
        c, steps=steps, lr=lr, weight_decay=weight_decay, seed=check_seed(c.seed), target=target,
        check_every=check_every,
    )


def check_seed(seed) -> int:
    """``seed`` as an int, or a :class:`ConfigError`: a seed is an integer from 0 to :data:`MAX_SEED`."""
    if not is_whole(seed) or not 0 <= plain(seed) <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}; got {seed!r} (JAX keeps 32 bits of "
                          "a seed, so others would repeat one of these).")
    return int(plain(seed))


def integer(name: str, value, low: int, high: int) -> int:
    """``value`` as an int from ``low`` to ``high`` (a float only when whole), or a :class:`ConfigError`."""
    if not is_whole(value) or not low <= plain(value) <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}; got {value!r}.")
    return int(plain(value))


def real(name: str, value) -> float:
    """``value`` as a float, or a :class:`ConfigError` when it is not a number (a string, None, a bool)."""
    if not is_number(value):
        raise ConfigError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    return float(plain(value))
