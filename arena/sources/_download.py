"""Downloading a source's official files into the local cache, with the standard library only.

A source opened without a path is read from ``$ARENA_SOURCE_DIR/<name>`` when that folder holds
its files, else from the cache ``<arena home>/sources/<name>/`` (see :func:`arena.hub.home`),
where ``download=True`` fetches the official files first. Each file is written to
``<file>.incomplete``, resumed with an HTTP ``Range`` request after an interruption (when the
server allows it), checked against its official md5 and only then renamed to its final name, so
a file under its final name in the cache is always complete and verified. Connection errors,
truncated bodies, 429 and 5xx answers are retried a few times with exponential backoff,
honouring ``Retry-After``; a 4xx answer moves on to the next mirror.

``ARENA_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) forbids downloading: only the cache is read.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from arena import format as fmt
from arena import hub
from arena.errors import SourceFormatError, SourceNotFoundError
from arena.sources._base import SOURCE_DIR_ENV

OFFLINE_ENVS = ("ARENA_OFFLINE", "HF_HUB_OFFLINE")
ATTEMPTS = 4  # tries per mirror, the first included
BACKOFF_S = 1.0  # wait before the second try; doubles after each further failure
MAX_WAIT_S = 60.0  # cap on one wait, Retry-After included
TIMEOUT_S = 60.0  # socket timeout of one request
_CHUNK = 1 << 20
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
_sleep = time.sleep  # tests replace it to record the waits instead of sleeping
log = logging.getLogger(__name__)


class RemoteFile(NamedTuple):
    """One official file: its name in the cache, where to get it, and its md5.

    Attributes:
        name: the file name in the cache folder.
        urls: the official locations, tried in order (mirrors of one file).
        md5: the official hex md5, of the file's bytes or, with ``gunzipped``, of its
            gzip-decompressed content.
        gunzipped: whether ``md5`` is that of the decompressed content.
    """

    name: str
    urls: tuple[str, ...]
    md5: str
    gunzipped: bool = False


class _Retryable(Exception):
    """A failure that another try of the same URL may not have; ``wait`` from Retry-After."""

    def __init__(self, message: str, wait: float | None = None):
        super().__init__(message)
        self.wait = wait


def offline_env() -> str | None:
    """The variable that forbids downloading (``ARENA_OFFLINE`` or ``HF_HUB_OFFLINE``), if set."""
    for env in OFFLINE_ENVS:
        if os.environ.get(env, "").strip().lower() in {"1", "true", "yes", "on"}:
            return env
    return None


def cache_dir(name: str) -> Path:
    """The cache folder of source ``name``: ``<arena home>/sources/<name>``."""
    return hub.home() / "sources" / name


def cached_source(
    name: str,
    files: Sequence[RemoteFile],
    *,
    download: bool,
    present: Callable[[Path], bool],
) -> Path | None:
    """The folder to read source ``name`` from when no path is given, or None for the usual lookup.

    ``$ARENA_SOURCE_DIR/<name>`` comes first when ``present`` says it holds the source's files
    (None is returned, and the reader opens it as before). Otherwise the cache folder is returned
    when it holds every file of ``files``, or when ``download`` fetched the missing ones into it.

    Raises:
        SourceNotFoundError: downloading is needed but forbidden by ``ARENA_OFFLINE`` /
            ``HF_HUB_OFFLINE``, or no mirror could deliver a file.
        SourceFormatError: a downloaded file failed its md5 check (it is deleted).
    """
    base = os.environ.get(SOURCE_DIR_ENV)
    if base and present(Path(base).expanduser() / name):
        return None
    folder = cache_dir(name)
    missing = [f for f in files if not (folder / f.name).is_file()]
    if not missing:
        return folder
    if not download:
        return None
    env = offline_env()
    if env:
        raise SourceNotFoundError(
            f"Source '{name}' is not in the cache '{folder}' and {env}={os.environ[env]} forbids "
            f"downloading {', '.join(f.name for f in missing)}: give --source PATH "
            f"(open_source('{name}', path=...)) or unset {env}."
        )
    for remote in missing:
        fetch(remote, folder)
    return folder


def fetch(remote: RemoteFile, folder: Path) -> Path:
    """Download ``remote`` into ``folder``, verify its md5 and return its final path.

    A ``<name>.incomplete`` left by an interrupted run is resumed. If a resumed file fails the
    md5 check, it is downloaded once more from scratch before giving up.

    Raises:
        SourceNotFoundError: no mirror delivered the file (the message names each one's error).
        SourceFormatError: the file's md5 differs from the official one; nothing is kept.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.name
    part = fmt.incomplete_path(final)
    url, resumed = _download(remote, part)
    try:
        _verify(remote, part, url)
    except SourceFormatError:
        if not resumed:
            raise
        log.warning("resumed %s failed its md5 check; downloading it again from scratch", part)
        url, _ = _download(remote, part)
        _verify(remote, part, url)
    return fmt.commit_incomplete(final)


def _download(remote: RemoteFile, part: Path) -> tuple[str, bool]:
    """Fill ``part`` from the first mirror that delivers it: ``(url used, whether resumed)``."""
    errors = []
    resumed = False
    for url in remote.urls:
        wait = BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                resumed |= _get(url, part)
                return url, resumed
            except urllib.error.HTTPError as exc:
                if exc.code == 416:  # the partial file is not a prefix the server can continue
                    part.unlink(missing_ok=True)
                    error = _Retryable(f"HTTP 416 for a resume of {url}", wait=0.0)
                elif exc.code in _RETRY_STATUS:
                    error = _Retryable(f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers))
                else:
                    errors.append(f"{url}: HTTP {exc.code} {exc.reason}")
                    break
            except _Retryable as exc:
                error = exc
            except _NETWORK_ERRORS as exc:
                error = _Retryable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
            if attempt == ATTEMPTS:
                errors.append(f"{url}: {error} (after {ATTEMPTS} tries)")
                break
            delay = min(MAX_WAIT_S, wait if error.wait is None else error.wait)
            log.info("%s failed (%s); retrying in %.0f s", url, error, delay)
            _sleep(delay)
            wait *= 2
    raise SourceNotFoundError(
        f"Could not download '{remote.name}': {'; '.join(errors)}. Check the connection and "
        f"retry (a partial download resumes), or get the file yourself and give --source PATH."
    )


def _get(url: str, part: Path) -> bool:
    """One request for ``url`` into ``part``, continuing its bytes if the server allows it.

    Returns whether it continued an existing partial file.
    """
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "neural-field-arena"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    log.info("downloading %s%s", url, f" from byte {have}" if have else "")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        resume = (
            have > 0
            and response.status == 206
            and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        )
        if response.status == 206 and not resume:
            part.unlink(missing_ok=True)
            raise _Retryable(f"unexpected partial answer {response.headers.get('Content-Range')}")
        start = have if resume else 0
        length = response.headers.get("Content-Length")
        expected = start + int(length) if length and length.isdigit() else None
        with open(part, "ab" if resume else "wb") as out:
            out.writelines(iter(lambda: response.read(_CHUNK), b""))
    size = part.stat().st_size
    if expected is not None and size < expected:
        raise _Retryable(f"connection closed after {size} of {expected} bytes")
    return resume


def _retry_after(headers) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (a number or an HTTP date), if any."""
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _verify(remote: RemoteFile, part: Path, url: str) -> None:
    """Check ``part`` against ``remote.md5``; on a mismatch delete it and raise one line."""
    what = "md5 of its uncompressed content" if remote.gunzipped else "md5"
    try:
        actual = _md5(part, remote.gunzipped)
    except (OSError, EOFError, zlib.error) as exc:
        part.unlink(missing_ok=True)
        raise SourceFormatError(
            f"Downloaded '{remote.name}' from {url} is not a valid gzip file ({exc}); deleted it. "
            f"Retry, or get the file yourself and give --source PATH."
        ) from None
    if actual != remote.md5:
        part.unlink(missing_ok=True)
        raise SourceFormatError(
            f"Downloaded '{remote.name}' from {url} has {what} {actual}, expected {remote.md5}; "
            f"deleted it. Retry, or get the file yourself and give --source PATH."
        )


def _md5(path: Path, gunzipped: bool) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with gzip.open(path, "rb") if gunzipped else open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
