"""Evaluation protocol v1: ``arena-eval MODEL.py --dataset NAME``.

- :func:`evaluate` runs the protocol and returns an ``arena-result/1`` document (needs
  ``[eval]``, i.e. torch);
- :class:`ModelSpec` is what ``build_model(spec)`` receives;
- :class:`Evaluator` scores predictions of a model trained outside the harness (OGB-style) and
  writes ``external``-protocol result documents (:mod:`arena.eval.evaluator`);
- :mod:`arena.eval.result` validates and writes result documents (no torch needed);
- :mod:`arena.eval.protocol` holds the rules and the bounds of the settings.
"""

from __future__ import annotations

from arena.eval.evaluator import Evaluator
from arena.eval.protocol import VERSION, Settings
from arena.eval.spec import ModelSpec


def evaluate(*args, **kwargs):
    """Run protocol v1; see :func:`arena.eval.harness.evaluate`."""
    from arena.errors import require

    require("torch", "eval", "evaluating a model")
    from arena.eval.harness import evaluate as run

    return run(*args, **kwargs)


__all__ = ["VERSION", "Evaluator", "ModelSpec", "Settings", "evaluate"]
