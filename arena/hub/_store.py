"""The local store: where things live under ``<home>``, offline mode, versions, verification stamps."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ArenaError, ConfigError, UnsafePathError
from arena.hub._errors import BusyError, RegistryError

HOME_ENV = "ARENA_HOME"
OFFLINE_ENVS = ("ARENA_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_VERSION_RE = re.compile(
    r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$"
)


def home() -> Path:
    """The local store's root directory (not created here)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "arena"


def local_path(name: str, version: str) -> Path:
    """Where dataset ``name`` at ``version`` lives in the local store (checked by :func:`path_inside`)."""
    return path_inside(home() / "datasets", name, version)


def check_output_place(target: Path, out, fix: str) -> None:
    """Refuse ``target`` (an absolute path) as the place of a new dataset written by a command:
    the local store or a folder holding it (only the store's own layout goes there), or a folder
    inside a dataset (its files would mix with that dataset's).

    Raises:
        ConfigError: in one line naming ``out`` (as the user gave it) and ending with ``fix``.
    """
    store = home().expanduser().resolve()
    if target == store or target in store.parents:
        where = "is" if target == store else "holds"
        raise ConfigError(f"--out {out} {where} the local store ({store}, $ARENA_HOME). {fix}")
    inside = next((d for d in target.parents if (d / fmt.MANIFEST_NAME).is_file()), None)
    if inside is not None:
        raise ConfigError(f"--out {out} lies inside the dataset {inside}; its files would mix with that "
                          f"dataset's. {fix}")


def path_inside(root: Path, *parts: str) -> Path:
    """``root / part / ...``, refused unless each part is one plain name: the path stays in ``root``.

    Use it wherever a path is derived from a name read from a file or a user (a manifest's
    ``name`` and ``version``, a model's name): ``"../../evil"``, ``"/etc"``, ``"a/b"``, ``".."``
    or ``""`` would otherwise move the path out of ``root`` or into another dataset's directory.

    Raises:
        UnsafePathError: a part is empty, ``.`` or ``..``, or holds ``/``, ``\\`` or a control
            character.
    """
    for part in parts:
        plain = (isinstance(part, str) and part not in ("", ".", "..")
                 and not any(c in "/\\" or ord(c) < 32 for c in part))
        if not plain:
            raise UnsafePathError(
                f"Refusing to derive a path under {root} from {part!r}: it is not one plain name "
                "(it is empty, '.' or '..', or holds '/', '\\' or a control character), so the path "
                "could leave that directory. Dataset names, versions and file names must be plain "
                "names; fix the name where it came from (for a dataset, its manifest's 'name' and "
                "'version')."
            )
    return root.joinpath(*parts)


def hf_cache() -> Path:
    """huggingface_hub's cache of downloaded dataset repos (its own layout)."""
    return home() / "hub" / "hf"


def url_cache() -> Path:
    """Datasets pulled from fsspec URLs: ``<url key>/<manifest sha256[:16]>/``."""
    return home() / "hub" / "url"


def locks_dir() -> Path:
    return home() / "hub" / "locks"


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``ARENA_OFFLINE`` or ``HF_HUB_OFFLINE`` is set true."""
    if offline is not None:
        return offline
    from_env = any(os.environ.get(k, "").strip().lower() in _TRUE for k in OFFLINE_ENVS)
    if from_env:
        return True
    try:  # huggingface_hub reads HF_HUB_OFFLINE once, at import: honour that too
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


# --------------------------------------------------------------------------------------------
# Versions


def version_key(version: str) -> tuple:
    """Semantic-version precedence: 1.0.0-rc.1 < 1.0.0 < 1.0.1 (build metadata breaks ties)."""
    m = _VERSION_RE.match(version)
    if m is None:
        return (-1, -1, -1, 0, (), version)
    major, minor, patch, pre, build = m.groups()
    pre_key = () if pre is None else tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")
    )
    return (int(major), int(minor), int(patch), 1 if pre is None else 0, pre_key, build or "")


def local_versions(name: str) -> list[str]:
    """The versions of ``name`` built in the local store (complete: their manifest exists)."""
    root = home() / "datasets" / name
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if (p / fmt.MANIFEST_NAME).is_file()]
    return sorted(found, key=version_key)


def local_names() -> list[str]:
    """Every dataset name with at least one complete build in the local store."""
    root = home() / "datasets"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and local_versions(p.name))


# --------------------------------------------------------------------------------------------
# Small atomic writes and locks


def write_json(path: Path, data: Any) -> None:
    """Write a store record (JSON, sorted keys) atomically; several processes may write the same
    record at once, so each writes through a temporary file of its own (:func:`arena.format.write_json_atomic`)."""
    fmt.write_json_atomic(path, data, unique=True)


@contextlib.contextmanager
def lock(key: str, *, busy: str | None = None) -> Iterator[None]:
    """An inter-process lock named ``key`` (a file under ``<home>/hub/locks``).

    Waits for the lock; with ``busy`` given, does not wait but raises :class:`BusyError` with that
    message when another process holds it. The lock is released when its holder exits, however.
    """
    import filelock

    locks_dir().mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:80] + "-" + digest(key)[:12] + ".lock"
    held = filelock.FileLock(str(locks_dir() / name), timeout=-1 if busy is None else 0)
    try:
        held.acquire()
    except filelock.Timeout:
        raise BusyError(busy) from None
    try:
        yield
    finally:
        held.release()


REGISTRY_FIX = ("The registry entry points at another dataset: correct it in $ARENA_REGISTRY or "
                "<home>/registry.json (`arena push` records the right one).")


def check_identity(manifest: fmt.Manifest, name: str, version: str | None, *, where: str, fix: str) -> None:
    """Refuse a manifest that is not dataset ``name`` (at ``version``, when given).

    A registry entry, or a directory of the local store, that points at another dataset must not
    make that dataset answer to this name.
    """
    if manifest.name == name and (version is None or manifest.version == version):
        return
    wanted = name if version is None else f"{name} {version}"
    raise RegistryError(
        f"{where} holds dataset '{manifest.name}' {manifest.version}, not the requested {wanted}; "
        f"refusing it. {fix}"
    )


def digest(text: str) -> str:
    """The hex sha256 of a string (keys of cache directories and lock files)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Verification, remembered: a file re-hashes only when its size or mtime changed


def _stamp_path(root: Path) -> Path:
    return home() / "hub" / "verified" / (digest(str(root.absolute())) + ".json")


def _fingerprint(path: Path) -> list[int]:
    st = path.stat()  # follows symlinks: a Hugging Face snapshot links to its blobs
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def verify_files(
    root: Path, entries: Sequence[fmt.FileEntry], manifest_sha256: str, *, rehash: bool = False
) -> list[tuple[fmt.FileEntry, ArenaError]]:
    """Check every listed file's size and sha256; return the bad ones with their errors.

    Files verified before (same manifest, same size, mtime and inode) are not re-hashed unless
    ``rehash``. The good files are remembered in a stamp under ``<home>/hub/verified/``.
    """
    stamp_path = _stamp_path(root)
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamp = {}
    trusted = stamp.get("manifest_sha256") == manifest_sha256 and not rehash
    known = stamp.get("files", {}) if trusted else {}
    good: dict[str, list[int]] = {}
    bad = []
    for entry in entries:
        path = root / entry.path
        try:
            fingerprint = _fingerprint(path)
        except OSError:
            fingerprint = None
        if fingerprint is not None and known.get(entry.path) == fingerprint:
            good[entry.path] = fingerprint
            continue
        try:
            fmt.check_file(root, entry, checksum=True)
        except ArenaError as exc:
            bad.append((entry, exc))
            continue
        good[entry.path] = _fingerprint(path)
    if good != known:
        write_json(stamp_path, {"root": str(root), "manifest_sha256": manifest_sha256, "files": good})
    return bad


def remember(root: Path, entries: Sequence[fmt.FileEntry], manifest_sha256: str) -> None:
    """Record files just verified (by the caller) so :func:`verify_files` need not re-hash them."""
    files = {e.path: _fingerprint(root / e.path) for e in entries}
    write_json(_stamp_path(root), {"root": str(root), "manifest_sha256": manifest_sha256, "files": files})
