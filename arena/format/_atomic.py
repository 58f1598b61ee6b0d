"""Atomic writes: a file or a directory is whole under its final name, or not there at all.

This is the package's one way to write what it keeps (shards, manifests, results, cards,
pictures, the store's JSON files, downloads, submissions, subsets):

- :func:`write_bytes_atomic`, :func:`write_text_atomic` (UTF-8), :func:`write_json_atomic` and
  :func:`write_atomic` (for a writer that needs a path, such as a compiler) write
  ``<name>.incomplete`` in the final file's directory, make it readable by the group and others
  as the umask allows (``0o666 & ~umask``, whatever mode the writer used), fsync it, rename it
  over the final name and fsync the directory. ``unique=True`` names the temporary file
  ``<name>.<random>.incomplete`` instead, for files that several processes may write at once
  (the store's records); the fixed name is for files one writer owns, so that a killed run's
  leftover is overwritten by the next, not piled up.
- :func:`commit_incomplete` finishes a file that its caller streamed to
  :func:`incomplete_path` (a download that resumes from the partial file's length) the same
  way.
- :func:`staged_directory` builds a directory under ``.<name>.partial-<random>`` beside its
  target and puts it in place when it is complete (:func:`swap_directory`): a rename when the
  target is absent; otherwise the old directory is moved aside, the new one renamed in, and the
  old one discarded only once the new one is in place.

An ``OSError`` (disk full, no permission) becomes a :class:`arena.errors.WriteError` naming the
final path and what to do; the temporary file or directory is removed and the final path is
left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from arena.errors import ArenaError, WriteError
from arena.format._names import INCOMPLETE_SUFFIX, MANIFEST_NAME, PathLike


def incomplete_path(path: PathLike, *, unique: bool = False) -> Path:
    """Where ``path`` is written before it is complete: ``<name>.incomplete`` beside it
    (``<name>.<random>.incomplete`` with ``unique``)."""
    path = Path(path)
    tag = f".{uuid.uuid4().hex[:12]}" if unique else ""
    return path.with_name(f"{path.name}{tag}{INCOMPLETE_SUFFIX}")


def write_bytes_atomic(path: PathLike, data: bytes, *, unique: bool = False) -> Path:
    """Write ``data`` to ``path`` whole or not at all; missing parent directories are created.

    Args:
        path: the final file.
        data: its bytes.
        unique: give the temporary file a random name (for files several processes may write).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        WriteError: the file could not be written (the message names it and what to do).
    """
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), unique=unique)


def write_text_atomic(path: PathLike, text: str, *, unique: bool = False) -> Path:
    """Write ``text`` as UTF-8 to ``path`` whole or not at all (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"), unique=unique)


def write_json_atomic(
    path: PathLike, data: Any, *, sort_keys: bool = True, indent: int = 2, unique: bool = False
) -> Path:
    """Write ``data`` as JSON text and one newline, whole or not at all.

    Args:
        path: the final file.
        data: a JSON-compatible value.
        sort_keys: sort object keys (``False`` keeps the mapping's own order).
        indent: spaces per nesting level.
        unique: give the temporary file a random name (for files several processes may write).
    """
    text = json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n"
    return write_text_atomic(path, text, unique=unique)


def write_atomic(path: PathLike, write: Callable[[Path], object], *, unique: bool = False) -> Path:
    """Have ``write(tmp)`` create the temporary file, then put it at ``path`` atomically.

    ``write`` receives the temporary path (in ``path``'s directory) and must create the whole
    file there. Whatever fails, the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = incomplete_path(path, unique=unique)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        _finish(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ArenaError):
            raise write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def commit_incomplete(path: PathLike) -> Path:
    """Put the complete file at ``incomplete_path(path)`` under its final name ``path``.

    For files their caller streams to the temporary name itself (resumable downloads): it is
    made group-readable, fsynced and renamed, and the directory fsynced. On failure the
    temporary file is kept, so that a later attempt can resume from it.
    """
    path = Path(path)
    try:
        _finish(incomplete_path(path), path)
    except OSError as exc:
        if isinstance(exc, ArenaError):
            raise
        raise write_error(path, exc) from exc
    _fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def staged_directory(
    target: PathLike,
    *,
    fill_empty: bool = False,
    discard: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Build a directory beside ``target``; put it at ``target`` when the block completes.

    Yields a new, empty directory ``.<name>.partial-<random>`` in ``target``'s parent (created,
    with the parent, if missing). When the block ends without an exception, it is put in place
    with :func:`swap_directory`. However the block ends, the temporary directory is gone
    afterwards, and a failure leaves ``target`` as it was.

    Args:
        target: the final directory.
        fill_empty: when ``target`` is an existing empty directory, move the entries in (the
            manifest last) instead of replacing the directory, so it keeps its identity.
        discard: removes the replaced directory once the new one is in place (default: the
            directory and all it holds; a symbolic link only, not what it points to).
    """
    target = Path(target)
    tmp = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # new: the cleanup below removes only what this call created
    except OSError as exc:
        raise write_error(target, exc) from exc
    try:
        yield tmp
        swap_directory(tmp, target, fill_empty=fill_empty, discard=discard)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap_directory(
    new: Path,
    target: Path,
    *,
    fill_empty: bool = False,
    discard: Callable[[Path], None] | None = None,
) -> None:
    """Put the complete directory ``new`` at ``target`` (see :func:`staged_directory`).

    A missing ``target`` is a rename. An empty one is filled entry by entry, the manifest last,
    when ``fill_empty``. Otherwise ``target`` is moved aside to ``.<name>.old-<random>``, ``new``
    renamed in (``target`` is restored when that fails), and the old one removed by ``discard``.
    """
    try:
        if not target.exists() and not target.is_symlink():
            os.replace(new, target)
        elif fill_empty and _is_empty_dir(target):
            _fill(new, target)
        else:
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
            os.replace(target, old)
            try:
                os.replace(new, target)
            except BaseException:
                os.replace(old, target)
                raise
            _discard(old, target, discard or _remove)
    except OSError as exc:
        if isinstance(exc, ArenaError):
            raise
        raise write_error(target, exc) from exc
    _fsync_dir(target.parent)


def write_error(path: Path, exc: OSError) -> WriteError:
    """The :class:`WriteError` for an ``OSError`` met while writing ``path``: what failed, that
    nothing was written, and what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "Free space on that disk (or write somewhere else) and run the command again."
    else:
        fix = "Check that its directory exists and is writable, then run the command again."
    error = WriteError(f"Could not write {path}: {reason}. Nothing was written there. {fix}")
    error.errno = exc.errno
    return error


def _finish(tmp: Path, path: Path) -> None:
    os.chmod(tmp, 0o666 & ~_umask())  # what the Arena writes is shared, whatever mode a writer used
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _fill(new: Path, target: Path) -> None:
    moved: list[Path] = []
    try:
        for entry in sorted(new.iterdir(), key=lambda p: p.name == MANIFEST_NAME):
            os.replace(entry, target / entry.name)
            moved.append(target / entry.name)
    except BaseException:
        for path in moved:  # only what this call put there: target is empty again
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        raise


def _remove(old: Path) -> None:
    if old.is_symlink():  # the target was a link: the link goes, what it pointed to stays
        old.unlink()
    else:
        shutil.rmtree(old)


def _discard(old: Path, target: Path, discard: Callable[[Path], None]) -> None:
    try:
        discard(old)
    except OSError as exc:
        raise WriteError(
            f"{target} is in place, but the copy it replaced, {old}, could not be removed: "
            f"{exc.strerror or exc}. Remove {old} by hand."
        ) from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
