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

Importing this module changes nothing global and loads neither JAX nor optax: they load on
first use of the fitter (:class:`FitConfig` and :func:`make_config` need neither). On a
multi-core CPU, call :func:`use_all_cores` first thing (before anything uses JAX) for one
single-threaded XLA device per core, which fits faster; ``arena-build`` and ``arena demo`` do it
for you. A fit without it warns once.
"""

from __future__ import annotations

import importlib

from arena._xla import use_all_cores
from arena.fit._config import FitConfig, make_config

# the JAX parts, imported on first use: `import arena.fit` loads neither JAX nor optax
_LAZY = {
    "FitResult": "_fitter", "ProgressBar": "_fitter", "chunk_per_device": "_fitter",
    "default_block": "_fitter", "even_block": "_fitter", "fit": "_fitter", "fit_images": "_fitter",
    "fit_shapes": "_fitter", "process_range": "_fitter", "shared_init": "_fitter",
    "ImageTask": "tasks", "ShapeTask": "tasks", "image_stats": "tasks",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'arena.fit' has no attribute '{name}'")
    from arena.errors import require

    require("jax", "build", "arena.fit")
    require("optax", "build", "arena.fit")
    value = getattr(importlib.import_module(f"arena.fit.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["FitConfig", "make_config", "use_all_cores", *_LAZY]
