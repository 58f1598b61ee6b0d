"""The parallel fitter: fit thousands of neural fields at once.

``fit`` takes a field architecture (:mod:`arena.fields`), a task (:class:`ImageTask` or
:class:`ShapeTask`) and the signals, and fits one NeF per signal: each chunk of NeFs is one
jit-compiled ``lax.scan`` over the steps of ``vmap``-ped per-NeF updates (optax Adam/AdamW with
per-NeF state, so nothing couples NeFs), sharded over every local device. Under
``jax.distributed`` each process fits its own contiguous range of the signals.

Example:
    >>> from sklearn.datasets import load_digits
    >>> from arena import fields, fit
    >>> fit.use_all_cores()  # every CPU core; before anything uses JAX
    >>> images = load_digits().images[:64] / 16.0
    >>> result = fit.fit_images(fields.Siren(hidden=16, omega0=9.0), images, steps=200)
    >>> result.params.shape, result.metrics["psnr"].shape
    ((64, 337), (64,))

Importing this module changes nothing global. On a multi-core CPU, call :func:`use_all_cores`
first thing (before anything uses JAX) for one single-threaded XLA device per core, which fits
faster; ``arena-build`` and ``arena demo`` do it for you. A fit without it warns once.
"""

from __future__ import annotations

from arena.errors import require

require("jax", "build", "arena.fit")
require("optax", "build", "arena.fit")

from arena._xla import use_all_cores  # noqa: E402
from arena.fit._fitter import (FitResult, ProgressBar, chunk_per_device, default_block, even_block, fit,
                               fit_images, fit_shapes, make_config, process_range, shared_init)  # noqa: E402
from arena.fit._engine import FitConfig  # noqa: E402
from arena.fit.tasks import ImageTask, ShapeTask  # noqa: E402

__all__ = [
    "FitConfig",
    "FitResult",
    "ProgressBar",
    "chunk_per_device",
    "default_block",
    "even_block",
    "ImageTask",
    "ShapeTask",
    "fit",
    "fit_images",
    "fit_shapes",
    "make_config",
    "process_range",
    "shared_init",
    "use_all_cores",
]
