"""The leaderboard: submissions as files a pull request can add, verified, ranked and rendered.

A leaderboard folder (the repository's ``leaderboard/``) holds
``submissions/<dataset>/<slug>/{result.json, model.py, submission.json}`` and the files rendered
from them, ``README.md`` and ``index.html``. The flow:

- :func:`prepare` (or :func:`from_options`, ``arena-eval``'s options) then :meth:`Pending.write`:
  check a submission before training, file the result after it (:func:`submit` does the second
  alone); :func:`add` files an external-protocol result (:class:`arena.eval.Evaluator`), which
  has no model file and is shown in a table of its own, never ranked with protocol v1;
- :func:`verify`: every rule checked, no submitted code executed; :func:`rerun` is the opt-in
  that runs one submission's model file again;
- :func:`render`: README.md and index.html, byte-identical for an unchanged folder;
- :func:`collect` / :func:`show`: the ranking as :class:`Table` s, or printed;
- :func:`placement` / :func:`print_placement`: where a fresh result would rank, writing nothing.

This package needs numpy, jsonschema and rich only; torch is imported by :func:`rerun`'s
subprocess alone.

Example:
    >>> report = verify("leaderboard")
    >>> report.problems                       # ("neural_digits/mlp: model.py has sha256 ...", ...)
    >>> render("leaderboard")                 # [leaderboard/README.md, leaderboard/index.html]
"""

from __future__ import annotations

from arena.leaderboard._board import collect, placement, print_placement, render, show
from arena.leaderboard._documents import MIN_SEEDS, Submission, slug
from arena.leaderboard._rerun import TOLERANCE, Rerun, rerun
from arena.leaderboard._rows import Row, Table
from arena.leaderboard._submit import DEFAULT_ROOT, Pending, add, from_options, prepare, submit
from arena.leaderboard._verify import Entry, Report, verify

__all__ = [
    "DEFAULT_ROOT",
    "MIN_SEEDS",
    "TOLERANCE",
    "Entry",
    "Pending",
    "Report",
    "Rerun",
    "Row",
    "Submission",
    "Table",
    "add",
    "collect",
    "from_options",
    "placement",
    "prepare",
    "print_placement",
    "render",
    "rerun",
    "show",
    "slug",
    "submit",
    "verify",
]
