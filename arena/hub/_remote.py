"""Datasets at fsspec URLs (``s3://``, ``gs://``, ``file://``, ...): push and pull.

A push copies the dataset directory file by file and its manifest LAST (a replaced dataset's old
manifest is deleted FIRST), so an interrupted push never leaves something that reads as a
complete dataset. A pull downloads the manifest and every file it lists into
``<home>/hub/url/<sha256(url)[:16]>/<manifest sha256[:16]>/`` through a ``.partial`` staging
directory: each file is fetched to ``<name>.incomplete`` and resumed from its size when a pull
is rerun, never read past its listed size, verified against its sha256, and the directory is
renamed into place only when every file is verified. A push never overwrites a file it did not
write (unless forced) and publishes every file the manifest lists, whatever its name. Credentials and endpoints come from the usual fsspec / cloud SDK
settings (for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from arena import format as fmt
from arena.errors import ArenaError, ChecksumError, ConfigError, MissingFileError, SizeMismatchError
from arena.hub import _store
from arena.hub._errors import AlreadyPublishedError, DatasetNotFoundError, HubError, OfflineError

_CHUNK = 8 * 2**20


def read_bytes(url: str, *, what: str = "the file") -> bytes:
    """The bytes of the file at ``url`` (``what`` names it in the error when there is none)."""
    fs, path = _fs(url)
    with _errors(url, "read"):
        try:
            return fs.cat_file(path)
        except FileNotFoundError:
            answer = ("the server answered 404 Not Found" if url.startswith(("http://", "https://"))
                      else "there is no such file")
            raise DatasetNotFoundError(f"Could not fetch {what} {url}: {answer}.") from None


def fetch(url: str, *, expected_sha256: str | None, offline: bool, label: str, fix: str,
          identity: tuple[str, str] | None = None, rehash: bool = False) -> Path:
    """A verified local copy of the dataset at ``url`` (see the module docstring).

    ``identity``: the ``(name, version)`` its manifest must carry (a registry release's);
    ``rehash``: re-hash every cached file, even those verified before.
    """
    url = url.rstrip("/")
    base = _store.url_cache() / _store.digest(url)[:16]
    want = _Want(expected_sha256, identity, rehash, label, fix)
    if offline:
        return _cached(base, url, want)
    if expected_sha256 is not None and (base / expected_sha256[:16] / fmt.MANIFEST_NAME).is_file():
        with contextlib.suppress(ArenaError):  # pinned and cached: no need to ask the URL
            return _cached(base, url, want)
    with _store.lock("url-" + url):
        fs, path = _fs(url)
        with _errors(url, "read"):
            try:
                text = fs.cat_file(f"{path}/{fmt.MANIFEST_NAME}")
            except FileNotFoundError:
                raise DatasetNotFoundError(
                    f"There is no Arena dataset at {url}: it has no {fmt.MANIFEST_NAME}. "
                    "Check the URL (it must be the dataset directory)."
                ) from None
        sha = hashlib.sha256(text).hexdigest()
        _check_manifest_sha(sha, expected_sha256, label, url)
        manifest = fmt.Manifest.from_json(text, source=f"{url}/{fmt.MANIFEST_NAME}")
        want.check(manifest, url)
        entries = manifest.all_files()
        root = base / sha[:16]
        staging = base / (sha[:16] + ".partial")
        if (root / fmt.MANIFEST_NAME).is_file():
            bad = _store.verify_files(root, entries, sha, rehash=rehash)
            same = _read_local(root / fmt.MANIFEST_NAME) == text
            if not bad and same:
                _remember(base, url, sha)
                return root
            shutil.rmtree(staging, ignore_errors=True)
            os.replace(root, staging)  # damaged in the cache: repair it like an unfinished pull
            for entry, _ in bad:  # the staging directory's own stamp may still vouch for them
                (staging / entry.path).unlink(missing_ok=True)
        staging.mkdir(parents=True, exist_ok=True)
        _pull_files(fs, path, staging, entries, sha, label)
        fmt.write_bytes_atomic(staging / fmt.MANIFEST_NAME, text)
        fmt.swap_directory(staging, root)
        _store.remember(root, entries, sha)
        _remember(base, url, sha)
        return root


def push(root: Path, url: str, *, manifest: fmt.Manifest, force: bool) -> str:
    """Copy the dataset directory ``root`` to ``url``, the manifest last; return ``url``.

    A target without a manifest may hold files of its own: one this push would overwrite with
    other bytes (a user's ``README.md``) is refused unless ``force``; files it would not write are
    never touched. A target that is a file is refused.
    """
    url = url.rstrip("/")
    fs, path = _fs(url)
    target = f"{path}/{fmt.MANIFEST_NAME}"
    files = dataset_files(root, manifest)
    with _errors(url, "write"):
        if fs.isfile(path):
            raise ConfigError(f"The push target {url} is a file, not a directory; push to a directory.")
        if not fs.exists(target) and not force:
            clash = _foreign(fs, path, root, files)
            if clash:
                shown = ", ".join(map(repr, clash[:5])) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
                raise ConfigError(
                    f"{url} holds no Arena dataset but already has {shown}, which this push would overwrite "
                    "with other bytes; refusing. Push to a new or empty location, or pass force=True "
                    "(--force) to overwrite them (as a push that replaced a version there and was "
                    "interrupted needs again)."
                )
        if fs.exists(target):
            if not force:
                try:
                    old = fmt.Manifest.from_json(fs.cat_file(target), source=url)
                    what = f"{old.name} {old.version}"
                except ArenaError:
                    what = "a dataset"
                raise AlreadyPublishedError(
                    f"{url} already holds {what}; refusing to overwrite it with "
                    f"{manifest.name} {manifest.version}. Pass force=True (--force) to replace it."
                )
            fs.rm_file(target)  # first: a half-replaced dataset must never look complete
        for rel in files:
            if rel != fmt.MANIFEST_NAME:
                _put(fs, root / rel, f"{path}/{rel}")
        _put(fs, root / fmt.MANIFEST_NAME, target)
    return url


def dataset_files(root: Path, manifest: fmt.Manifest) -> list[str]:
    """Every file of a dataset directory to publish, sorted: the manifest, every file it lists
    (whatever its name), and the other files (the card, pictures) but hidden or ``.incomplete`` ones."""
    out = {fmt.MANIFEST_NAME, *(e.path for e in manifest.all_files())}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        hidden = any(part.startswith(".") for part in rel.split("/"))
        if p.is_file() and not hidden and not rel.endswith(fmt.INCOMPLETE_SUFFIX):
            out.add(rel)
    return sorted(out)


def cached_copies(url: str) -> list[Path]:
    """The complete local copies of the dataset at ``url``."""
    base = _store.url_cache() / _store.digest(url.rstrip("/"))[:16]
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir()
                  if not p.name.endswith(".partial") and (p / fmt.MANIFEST_NAME).is_file())


@dataclasses.dataclass(frozen=True)
class _Want:
    """What a fetch must get: the manifest's sha256 and identity, and whether to re-hash the cache."""

    sha256: str | None
    identity: tuple[str, str] | None
    rehash: bool
    label: str
    fix: str

    def check(self, manifest: fmt.Manifest, url: str) -> None:
        if self.identity is not None:
            _store.check_identity(manifest, *self.identity, where=url, fix=_store.REGISTRY_FIX)


def _cached(base: Path, url: str, want: _Want) -> Path:
    pick = want.sha256[:16] if want.sha256 else _latest(base)
    root = base / pick if pick else None
    if root is None or not (root / fmt.MANIFEST_NAME).is_file():
        raise OfflineError(
            f"{want.label} ({url}) is not in the local cache and offline mode is on "
            f"(ARENA_OFFLINE / HF_HUB_OFFLINE). {want.fix}"
        )
    files = fmt.open_dataset(root)
    if files.manifest_sha256[:16] != root.name:
        raise ChecksumError(
            f"{want.label}: the cached manifest {root / fmt.MANIFEST_NAME} has sha256 "
            f"{files.manifest_sha256}, but it was downloaded as {root.name}...: it was changed since. "
            f"Go online and run the same command again to repair it. {want.fix}"
        )
    _check_manifest_sha(files.manifest_sha256, want.sha256, want.label, url)
    want.check(files.manifest, url)
    bad = _store.verify_files(root, files.manifest.all_files(), files.manifest_sha256, rehash=want.rehash)
    if bad:
        _raise_bad(bad, want.label, f"Go online and run the same command again to repair it. {want.fix}")
    return root


def _remember(base: Path, url: str, sha: str) -> None:
    """Note which URL the cache directory holds and which manifest was pulled last."""
    _store.write_json(base / "source.json", {"url": url, "latest": sha[:16]})


def _latest(base: Path) -> str | None:
    try:
        return json.loads((base / "source.json").read_text(encoding="utf-8"))["latest"]
    except (OSError, ValueError, KeyError):
        return None


def _check_manifest_sha(sha: str, expected: str | None, label: str, where: str) -> None:
    if expected is not None and sha != expected:
        raise ChecksumError(
            f"The manifest '{fmt.MANIFEST_NAME}' of {label} at {where} has sha256 {sha}, but the "
            f"registry lists {expected}; refusing it. The dataset there changed since it was "
            "registered: update the registry entry or use the registered copy."
        )


def _pull_files(fs, path: str, staging: Path, entries: Sequence[fmt.FileEntry], sha: str, label: str) -> None:
    todo = [e for e, _ in _store.verify_files(staging, entries, sha)]
    for entry in todo:
        _get(fs, f"{path}/{entry.path}", staging / entry.path, entry.bytes)
    bad = _store.verify_files(staging, entries, sha)
    for entry, _ in bad:  # a damaged resumed part: fetch it once more from the start
        _get(fs, f"{path}/{entry.path}", staging / entry.path, entry.bytes, restart=True)
    bad = _store.verify_files(staging, entries, sha)
    if bad:
        for entry, _ in bad:
            (staging / entry.path).unlink(missing_ok=True)
        _raise_bad(bad, label, "The copy at the URL is damaged: push the dataset there again.")


def _get(fs, src: str, dest: Path, size: int, *, restart: bool = False) -> None:
    """Download ``src`` to ``dest`` through ``dest.incomplete``, resuming from its length.

    At most ``size`` bytes (the manifest's) are written and one more read: a remote file that
    holds more is refused (:class:`SizeMismatchError`) and its partial copy removed, so a hostile
    or damaged remote cannot fill the disk.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = fmt.incomplete_path(dest)
    if restart:
        dest.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    have = tmp.stat().st_size if tmp.is_file() else 0
    if have > size:
        have = 0
    try:
        with _errors(src, "read"), fs.open(src, "rb") as remote, open(tmp, "ab" if have else "wb") as out:
            if have:
                remote.seek(have)
            left = size - have
            while left > 0 and (chunk := remote.read(min(_CHUNK, left))):
                out.write(chunk)
                left -= len(chunk)
            longer = left == 0 and remote.read(1)
    except FileNotFoundError:
        raise MissingFileError(
            f"{src} is listed in the dataset's manifest but missing there; the copy at the URL "
            "is incomplete: push the dataset there again."
        ) from None
    if longer:
        tmp.unlink(missing_ok=True)
        raise SizeMismatchError(
            f"{src} holds more than the {size} bytes the dataset's manifest lists; refused after "
            f"{size} bytes and nothing kept. The copy at the URL is damaged: push the dataset there again."
        )
    fmt.commit_incomplete(dest)


def _foreign(fs, path: str, root: Path, files: Sequence[str]) -> list[str]:
    """The files among ``files`` that exist under ``path`` with bytes other than ``root``'s: not
    the same bytes, nor the first bytes of them (what an interrupted push of this file left)."""
    clash = []
    for rel in files:
        remote, local = f"{path}/{rel}", root / rel
        try:
            remote_info = fs.info(remote)
        except FileNotFoundError:
            continue
        size = remote_info.get("size")
        if remote_info.get("type") != "file" or not isinstance(size, int) or size > local.stat().st_size:
            clash.append(rel)
            continue
        theirs, ours = hashlib.sha256(), hashlib.sha256()
        with fs.open(remote, "rb") as f, open(local, "rb") as mine:
            left = size
            while left > 0 and (chunk := f.read(min(_CHUNK, left))):
                theirs.update(chunk)
                ours.update(mine.read(len(chunk)))
                left -= len(chunk)
        if left or theirs.digest() != ours.digest():
            clash.append(rel)
    return clash


def _read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _put(fs, local: Path, remote: str) -> None:
    try:
        fs.put_file(str(local), remote)
    except FileNotFoundError:  # local-like filesystems need the parent directory first
        fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(local), remote)


def _raise_bad(bad, label: str, fix: str) -> None:
    names = ", ".join(f"'{e.path}'" for e, _ in bad)
    details = " ".join(str(exc) for _, exc in bad)
    kind = type(bad[0][1]) if all(type(x) is type(bad[0][1]) for _, x in bad) else ChecksumError
    raise kind(f"{label}: {len(bad)} file(s) failed verification: {names}. {details} {fix}")


def _fs(url: str):
    try:
        import fsspec
    except ImportError as exc:  # pragma: no cover - fsspec comes with huggingface_hub
        raise HubError(f"Reading {url} needs the 'fsspec' package: pip install fsspec") from exc
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise HubError(
            f"fsspec cannot open {url} here: {exc}. Install the package it names "
            "(s3fs for s3://, gcsfs for gs://)."
        ) from exc
    except ValueError as exc:
        raise HubError(f"{url} is not a URL that fsspec knows: {exc}.") from exc
    fs.invalidate_cache()  # another process may have changed what an earlier listing saw
    return fs, path


@contextlib.contextmanager
def _errors(url: str, what: str) -> Iterator[None]:
    """Turn storage exceptions into :class:`HubError` naming the URL (domain errors pass)."""
    try:
        yield
    except (ArenaError, FileNotFoundError):
        raise
    except PermissionError as exc:
        raise HubError(f"Permission denied to {what} {url}: {exc}. Check its credentials.") from exc
    except Exception as exc:
        raise HubError(f"Could not {what} {url}: {type(exc).__name__}: {exc}") from exc
