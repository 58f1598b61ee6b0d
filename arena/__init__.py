"""The Neural Field Arena: datasets of fitted neural fields, built fast, loaded anywhere,
and evaluated the same way by everyone.

``import arena`` is light (numpy only); the heavy parts load on first use:

- :mod:`arena.fields`: SIREN, RFFNet and MFN, written for one signal (needs ``[build]``).
- :mod:`arena.fit`: the parallel JAX fitter (needs ``[build]``).
- :mod:`arena.sources`: readers of the raw datasets and shape point sampling.
- :mod:`arena.format`: the Arena format v1 (manifest, shards, verification).
- :mod:`arena.hub`: the registry, the local store, Hugging Face Hub and fsspec URLs
  (``resolve``, ``download``, ``push``).
- :mod:`arena.metrics`: PSNR, off-grid PSNR, IoU.
- :func:`arena.load` / :mod:`arena.data`: neural datasets as memory-mapped splits, batches and
  symmetry-respecting transforms (numpy; torch and JAX views on request).
"""

from __future__ import annotations

import importlib

from arena.errors import ArenaError, ConfigError, MissingExtraError

__version__ = "0.1.0"

_SUBMODULES = (
    "data", "demo", "errors", "eval", "export", "fields", "fit", "format", "graph", "hub", "layout",
    "leaderboard", "metrics", "sources", "study",
)


_FUNCTIONS = {"load": "arena.data"}  # arena.load is arena.data.load, imported on first use


def __getattr__(name: str):
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(_FUNCTIONS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"arena.{name}")
    raise AttributeError(f"module 'arena' has no attribute '{name}'")


__all__ = ["ArenaError", "ConfigError", "MissingExtraError", "__version__", *_FUNCTIONS, *_SUBMODULES]
