"""The Arena's exceptions.

Every error the library raises for a user mistake derives from :class:`ArenaError` and also
from the builtin that fits it, so callers can catch narrowly (``except ArenaError``) or broadly
(``except ValueError``). Each message says what happened, the offending value, what is valid and
what to do next; the command lines print it as one red line.
"""

from __future__ import annotations


class ArenaError(Exception):
    """Base class of every error raised by the Arena for a user-facing problem."""


class ConfigError(ArenaError, ValueError):
    """An argument or setting has a value the Arena cannot use."""


class MissingExtraError(ArenaError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'neural-field-arena[{extra}]'"
        ) from exc
