"""The errors of dataset stores: each says what happened, the offending value and what to do."""

from __future__ import annotations

from arena.errors import ArenaError


class DatasetNotFoundError(ArenaError, LookupError):
    """A dataset name, repository, revision or URL that names no dataset."""


class NotPublishedError(ArenaError, LookupError):
    """A registry entry whose dataset is not published yet; the message says how to build it."""


class OfflineError(ArenaError, ConnectionError):
    """Offline mode is on and the dataset is not in the local cache; the message says how to fix it."""


class HubError(ArenaError, ConnectionError):
    """A dataset hub or storage URL could not be reached or refused a request."""


class AlreadyPublishedError(ArenaError, FileExistsError):
    """A push of a version that the target already holds (pass ``force=True`` to replace it)."""


class RegistryError(ArenaError, ValueError):
    """A registry file is unreadable or does not follow the ``arena-registry/1`` format, or it (or
    a directory of the local store) points a dataset name at another dataset."""


class BusyError(ArenaError, RuntimeError):
    """Another process is writing the same thing (a build of the same dataset directory)."""
