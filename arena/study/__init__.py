"""The representation study's tools (docs/design.md, section 8): sweeps, searches, plots.

- :func:`sweep` fits a neural dataset per cell of a grid (dataset x architecture x init x width
  x steps x any fit setting) with the builders, measures it (PSNR on and off grid, or IoU, from
  the manifest; NMI and class distances of the train split) and evaluates models on it with
  protocol v1, resumably, under one directory (``arena study sweep``);
- :func:`search` runs Optuna's TPE over fit settings, maximising a model's val accuracy, in an
  Optuna RDB storage that several workers can share (``arena study search``);
- :func:`plot` draws accuracy against reconstruction quality and NMI, and the shared-vs-random
  table (``arena study plot``);
- :func:`load_config` reads a sweep's TOML configuration (:mod:`arena.study.config`).

Example:
    >>> from arena import study
    >>> config = study.load_config("benchmarks/study_digits_tiny.toml")  # doctest: +SKIP
    >>> study.sweep(config, "sweeps/digits_tiny")                         # doctest: +SKIP
    >>> study.plot("sweeps/digits_tiny").table                            # doctest: +SKIP

Importing this package loads neither JAX, torch, Optuna nor matplotlib: each is imported by the
function that needs it. Sweeps and searches need the ``build`` and ``eval`` extras; searches
and plots need ``study``.
"""

from __future__ import annotations

from arena.study._plot import PlotResult, plot
from arena.study._search import SearchSummary, search
from arena.study._sweep import SweepSummary, sweep
from arena.study.config import Cell, DatasetSpec, ModelRun, Param, SweepConfig
from arena.study.config import load as load_config

__all__ = ["Cell", "DatasetSpec", "ModelRun", "Param", "PlotResult", "SearchSummary", "SweepConfig",
           "SweepSummary", "load_config", "plot", "search", "sweep"]
