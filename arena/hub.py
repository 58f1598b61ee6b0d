"""Where neural datasets live. For now: the local store, the embedded default.

The local store is a directory, ``$ARENA_HOME`` or ``~/.cache/arena`` by default (following
``$XDG_CACHE_HOME``); builds land in ``<home>/datasets/<name>/<version>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "ARENA_HOME"


def home() -> Path:
    """The local store's root directory (not created here)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "arena"


def local_path(name: str, version: str) -> Path:
    """Where dataset ``name`` at ``version`` lives in the local store."""
    return home() / "datasets" / name / version
