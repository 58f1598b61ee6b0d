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


class ManifestError(ArenaError, ValueError):
    """A dataset's ``arena.json`` is missing, unreadable or does not follow the Arena format."""


class UnsupportedFormatError(ArenaError, ValueError):
    """A dataset is in a format version this package cannot read; upgrading the package helps."""


class UnsafePathError(ArenaError, ValueError):
    """A manifest lists a file path that is absolute, not normalised or leaves the dataset."""


class MissingFileError(ArenaError, FileNotFoundError):
    """A file listed in a dataset's manifest is not on disk."""


class SizeMismatchError(ArenaError, ValueError):
    """A file listed in a dataset's manifest has a different size from the one listed."""


class ChecksumError(ArenaError, ValueError):
    """A file listed in a dataset's manifest has a different sha256 from the one listed."""


class ShardError(ArenaError, ValueError):
    """A safetensors file does not hold the tensors, dtypes or shapes the Arena format requires."""


class UnknownSourceError(ArenaError, LookupError):
    """A raw-data source name that :func:`arena.sources.open_source` does not know."""


class SourceNotFoundError(ArenaError, FileNotFoundError):
    """A source's raw files are not where they were looked for; the message says what to get."""


class SourceFormatError(ArenaError, ValueError):
    """A raw-data file exists but is not in the expected format (bad header, wrong sizes)."""


class ModelFileError(ArenaError, ValueError):
    """A model file for ``arena-eval`` breaks the contract (import, ``build_model``, outputs)."""


class DatasetContentError(ArenaError, ValueError):
    """A dataset's files are intact but hold what the format forbids: a label outside its classes,
    one source example twice (leakage)."""


class WriteError(ArenaError, OSError):
    """A file could not be written (disk full, no permission); the message names it."""


class SubmissionError(ArenaError, ValueError):
    """A leaderboard submission cannot be made, or a submitted folder breaks the leaderboard's rules."""


class LeaderboardError(ArenaError, ValueError):
    """A leaderboard folder does not verify (nothing is rendered from it), or a rerun disagrees."""
