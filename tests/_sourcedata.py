"""The real raw source files some tests read: the folder ``$ARENA_DATA`` names.

Nothing defaults to a path beside the checkout: set ``ARENA_DATA`` to the folder holding
``mnist/``, ``cifar10/``, ``microimagenet/`` and ``modelnet10/`` (``.ci/run`` sets it to the
shared data folder). A test that needs files under it is marked ``@needs_data("mnist", ...)``
(``tests/conftest.py`` acts on the mark) or calls :func:`require` from a fixture. Without the
files it skips, except under CI (``ARENA_DATA`` set, or ``CI=true``), where a missing file
fails the test: a CI run never passes by skipping what it was given data for.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV = "ARENA_DATA"
UNSET = Path("$ARENA_DATA")  # a placeholder that never exists, so paths under it read well in messages


def root() -> Path:
    """``$ARENA_DATA``, or the placeholder ``$ARENA_DATA`` (which does not exist) when unset."""
    value = os.environ.get(ENV, "").strip()
    return Path(value).expanduser() if value else UNSET


DATA = root()


def under_ci() -> bool:
    """Whether missing source files fail tests instead of skipping them."""
    return bool(os.environ.get(ENV, "").strip()) or os.environ.get("CI", "").strip().lower() == "true"


def require(*parts: str) -> Path:
    """``$ARENA_DATA/<part>`` for each part (the first one's path is returned); skips the calling
    test when one is missing, or fails it under CI."""
    paths = [DATA / part for part in parts]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        why = f"the raw source files {', '.join(missing)} are not there"
        if under_ci():
            pytest.fail(f"{why}; under CI ({ENV} or CI=true set) a test may not skip for want of data. "
                        f"Point {ENV} to the folder holding them.", pytrace=False)
        pytest.skip(f"{why}: set {ENV} to the folder holding them")
    return paths[0]


def needs_data(*parts: str):
    """Mark a test that reads ``$ARENA_DATA/<part>`` for each part (see :func:`require`)."""
    return pytest.mark.needs_data(*parts)
