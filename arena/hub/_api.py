"""resolve, download, push, cached, info: the dataset stores behind one reference syntax."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
from pathlib import Path

from arena import format as fmt
from arena.errors import ArenaError, ChecksumError, ConfigError
from arena.hub import _hf, _remote, _store
from arena.hub._errors import DatasetNotFoundError, HubError, NotPublishedError
from arena.hub._registry import Entry, Release, record, registry

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def resolve(ref: str, *, version: str | None = None, offline: bool | None = None) -> Path:
    """A local directory holding the complete dataset ``ref`` (``arena.json`` and its files).

    Args:
        ref: one of
            - a dataset directory (``./my_dataset``, ``/data/neural_mnist/1.0.0``);
            - a registry or local-store name (``"neural_mnist"``): a local build is used when
              there is one (the registry's version if built, else the highest built version),
              otherwise the registry's release is downloaded, pinned to its commit and checked
              against its manifest sha256;
            - ``hf://datasets/OWNER/NAME[@REVISION]`` (or ``hf://OWNER/NAME``): a dataset
              repository on the Hub (``HF_ENDPOINT``); without a revision, the tag of
              ``version`` if given, else ``main``;
            - an fsspec URL of a dataset directory (``s3://bucket/path``, ``file:///path``).
        version: the version wanted; a local directory or download of another version is refused.
        offline: use only the local store and cache (default: ``ARENA_OFFLINE`` /
            ``HF_HUB_OFFLINE``).

    Returns:
        The dataset directory. Downloaded files are verified against the manifest's sha256
        (once; later calls re-hash only files whose size or mtime changed).

    Example:
        >>> root = resolve("neural_digits")            # a local build, or the published release
        >>> root = resolve("hf://datasets/me/neural_digits@v1.0.0")
    """
    ref = os.fspath(ref) if isinstance(ref, os.PathLike) else ref
    _check_version_wanted(version)
    offline = _store.is_offline(offline)
    kind = _kind(ref)
    if kind == "dir":
        root = Path(ref).expanduser().absolute()
        fmt.open_dataset(root)  # a manifest this package can read, every listed file present
        _check_version(root, version, ref)
        return root
    if kind != "name":
        return download(ref, version=version, offline=offline)
    entry = registry().get(ref)
    built = _built_version(ref, version, entry)
    if built is not None:
        return _local_build(ref, built)
    if entry is None:
        raise _unknown(ref, version)
    return _fetch_release(entry.release(version), offline)


def download(name_or_ref: str, *, version: str | None = None, offline: bool | None = None,
             verify: bool = False) -> Path:
    """Download a dataset into the cache (whatever is built locally) and return its directory.

    A file already in the cache is trusted without re-hashing while its size, mtime and inode
    are those it had when it was last verified; ``verify`` re-hashes every cached file (and,
    online, fetches again any that fails).

    Args:
        name_or_ref: a registry name, ``hf://`` reference or fsspec URL (see :func:`resolve`).
        version: the version wanted (default: the registry's, or the ref's own).
        offline: only check the cache (default: ``ARENA_OFFLINE`` / ``HF_HUB_OFFLINE``).
        verify: re-hash every cached file against the manifest's sha256.

    Returns:
        The verified copy in ``<home>/hub``.
    """
    _check_version_wanted(version)
    offline = _store.is_offline(offline)
    kind = _kind(name_or_ref)
    if kind == "dir":
        raise ConfigError(
            f"{name_or_ref} is a local directory already; download takes a dataset name, an "
            "hf:// reference or a URL."
        )
    if kind == "hf":
        repo, revision = parse_hf(name_or_ref)
        revision = revision or (_hf.version_tag(version) if version else "main")
        fix = f"Go online and run `arena download {name_or_ref}` once."
        root = _hf.fetch(repo, revision, expected_sha256=None, offline=offline, label=name_or_ref, fix=fix,
                         rehash=verify)
    elif kind == "url":
        fix = f"Go online and run `arena download {name_or_ref}` once."
        root = _remote.fetch(name_or_ref, expected_sha256=None, offline=offline, label=name_or_ref, fix=fix,
                             rehash=verify)
    else:
        entry = registry().get(name_or_ref)
        if entry is None:
            raise _unknown(name_or_ref, version)
        return _fetch_release(entry.release(version), offline, rehash=verify)
    _check_version(root, version, name_or_ref)
    return root


def push(path: str | os.PathLike, target: str, *, force: bool = False, token: str | None = None) -> str:
    """Publish the dataset directory ``path`` to ``target`` and record it in ``<home>/registry.json``.

    The dataset is verified first (every file against the manifest's sha256): a damaged dataset
    is never published.

    Args:
        path: the dataset directory (e.g. ``arena.hub.local_path("neural_digits", "1.0.0")``).
        target: a Hugging Face dataset repository (``"owner/name"`` or
            ``"hf://datasets/owner/name"``), created if needed: the directory is uploaded as one
            commit, tagged ``v<version>`` (:func:`version_tag`); or an fsspec URL of the dataset
            directory (``"s3://bucket/neural_digits/1.0.0"``), to which the files are copied,
            manifest last.
        force: replace a version the target already has (moves its tag / overwrites the URL).
        token: a Hugging Face token with write access (default: ``HF_TOKEN`` or the login).

    Returns:
        The commit id (Hub) or the URL (fsspec) now holding the dataset.

    Raises:
        AlreadyPublishedError: the target already holds this version and ``force`` is False.
    """
    kind, where = check_target(target)
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"No dataset directory at {root}. Give the directory that holds arena.json "
            "(local builds are under $ARENA_HOME/datasets/<name>/<version>)."
        )
    if kind == "url":
        _check_not_onto_itself(root, where)
    files = fmt.open_dataset(root, verify=True)
    manifest = files.manifest
    if kind == "hf":
        pushed = _hf.push(root, where, manifest=manifest, manifest_sha256=files.manifest_sha256,
                          files=_remote.dataset_files(root, manifest), force=force, token=token)
        release = Release(manifest.name, manifest.version, where, pushed, files.manifest_sha256,
                          _counts(manifest))
    else:
        pushed = _remote.push(root, where, manifest=manifest, force=force)
        _check_pushed(pushed, files.manifest_sha256)
        release = Release(manifest.name, manifest.version, pushed, None, files.manifest_sha256,
                          _counts(manifest))
    record(release, description=manifest.description or "")
    return pushed


def check_target(target: str) -> tuple[str, str]:
    """Check a push target's syntax (no network): ``("hf", "owner/name")`` or ``("url", url)``.

    A URL needs a protocol fsspec knows and can write to for good (not ``memory://``, which
    lives only in this process, nor a read-only one such as ``http://``), and a bucket and a
    path (``s3://bucket/neural_digits/1.0.0``; ``file:///absolute/path``).
    """
    if not isinstance(target, str) or not target:
        raise ConfigError(f"A push target must be a non-empty string; got {target!r}.")
    if "://" in target and not target.startswith("hf://"):
        return "url", _check_url_target(target)
    repo, revision = parse_hf(target) if target.startswith("hf://") else (_hf.check_repo_id(target), None)
    if revision is not None:
        raise ConfigError(f"Push to a repository, not a revision: drop '@{revision}' from {target}.")
    return "hf", repo


def cached(name: str) -> list[Path]:
    """Every complete local copy of dataset ``name``: its builds, then its downloads."""
    copies = [_store.local_path(name, v) for v in _store.local_versions(name)]
    entry = registry().get(name) if _NAME_RE.match(name) else None
    if entry is None:
        return copies
    seen: set[str] = set()
    for release in entry.releases.values():
        if release.repo is None or release.repo in seen:
            continue
        seen.add(release.repo)
        found = _remote.cached_copies(release.repo) if release.is_url else _hf.snapshots(release.repo)
        copies += [p for p in found if _complete(p, name)]
    return copies


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What :func:`info` knows of a dataset.

    Attributes:
        name: the dataset name (the manifest's, or the name asked for).
        entry: its registry entry, if the registry has it.
        manifest: its manifest, when a copy is local or the release could be asked for it.
        manifest_sha256: the sha256 of that manifest.
        location: where the manifest was read (a directory or a reference).
        copies: every complete local copy (see :func:`cached`).
    """

    name: str
    entry: Entry | None
    manifest: fmt.Manifest | None
    manifest_sha256: str | None
    location: str | None
    copies: tuple[Path, ...]


def info(name_or_ref: str, *, offline: bool | None = None) -> DatasetInfo:
    """Describe a dataset: registry entry, manifest and local copies. Downloads only a manifest.

    A name's manifest is read from its local copy when there is one, else fetched alone from its
    published release (unless offline); ``hf://`` references and URLs are resolved (downloaded).
    """
    offline = _store.is_offline(offline)
    kind = _kind(name_or_ref)
    if kind != "name":
        root = resolve(name_or_ref, offline=offline)
        files = fmt.open_dataset(root)
        name = files.manifest.name
        entry = registry().get(name)
        return DatasetInfo(name, entry, files.manifest, files.manifest_sha256, str(root), tuple(cached(name)))
    entry = registry().get(name_or_ref)
    copies = tuple(cached(name_or_ref))
    if entry is None and not copies:
        raise _unknown(name_or_ref, None)
    root = _local_copy(name_or_ref, entry)
    if root is not None:
        files = fmt.open_dataset(root)
        _store.check_identity(files.manifest, name_or_ref, None, where=str(root), fix=_store_fix(root))
        return DatasetInfo(name_or_ref, entry, files.manifest, files.manifest_sha256, str(root), copies)
    release = entry.release() if entry is not None else None
    if release is None or not release.published or offline:
        return DatasetInfo(name_or_ref, entry, None, None, None, copies)
    text = _release_manifest(release)
    sha = hashlib.sha256(text).hexdigest()
    if sha != release.manifest_sha256:
        raise ChecksumError(
            f"The manifest of {release.name} {release.version} at {release.where} has sha256 {sha}, "
            f"but the registry lists {release.manifest_sha256}; refusing it."
        )
    manifest = fmt.Manifest.from_json(text, source=release.where)
    _store.check_identity(manifest, release.name, release.version, where=release.where,
                          fix=_store.REGISTRY_FIX)
    return DatasetInfo(name_or_ref, entry, manifest, sha, release.where, copies)


def locate(name_or_path: str, *, version: str | None = None) -> Path:
    """The local copy :func:`resolve` would use offline, found without verifying or downloading."""
    _check_version_wanted(version)
    kind = _kind(name_or_path)
    if kind == "dir":
        return Path(name_or_path).expanduser()
    if kind == "name":
        entry = registry().get(name_or_path)
        built = _built_version(name_or_path, version, entry)
        if built is not None:
            return _store.local_path(name_or_path, built)
        if entry is not None:
            release = entry.release(version)
            found = _release_copy(release)
            if found is not None:
                return found
            if not release.published:
                raise _not_published(release)
        elif not cached(name_or_path):
            raise _unknown(name_or_path, version)
    raise DatasetNotFoundError(
        f"{name_or_path} is not in the local store or cache. Download it first: "
        f"arena download {name_or_path}"
    )


def parse_hf(ref: str) -> tuple[str, str | None]:
    """``hf://datasets/owner/name@rev`` (or ``hf://owner/name``) -> ``("owner/name", "rev")``."""
    rest = ref[len("hf://"):]
    kind, _, tail = rest.partition("/")
    if kind in ("models", "spaces", "kernels", "buckets"):
        raise ConfigError(f"{ref} is not a dataset repository; use hf://datasets/OWNER/NAME.")
    if kind == "datasets":
        rest = tail
    repo, at, revision = rest.partition("@")
    repo = repo.strip("/")
    if at and not revision:
        raise ConfigError(f"{ref} has an empty revision after '@'.")
    if revision:
        _hf.check_revision(revision, ref)
    return _hf.check_repo_id(repo), (revision or None)


# --------------------------------------------------------------------------------------------


def _kind(ref: str) -> str:
    if not isinstance(ref, str) or not ref:
        raise ConfigError(f"A dataset reference must be a non-empty string; got {ref!r}.")
    if ref.startswith("hf://"):
        return "hf"
    if "://" in ref:
        return "url"
    if Path(ref).expanduser().is_dir():
        return "dir"
    if _NAME_RE.match(ref):
        return "name"
    raise DatasetNotFoundError(
        f"No dataset directory at {ref}, and it is not a dataset name or URL "
        "(hf://datasets/OWNER/NAME, s3://..., file://...). `arena list` shows the names."
    )


def _built_version(name: str, version: str | None, entry: Entry | None) -> str | None:
    built = _store.local_versions(name)
    if version is not None:
        return version if version in built else None
    if not built:
        return None
    if entry is not None and entry.version in built:
        return entry.version
    return built[-1]


def _fetch_release(release: Release, offline: bool, *, rehash: bool = False) -> Path:
    if not release.published:
        raise _not_published(release)
    label = f"Dataset '{release.name}' {release.version}"
    fix = (f"Go online and run `arena download {release.name}` once, or build it here with "
           f"`arena-build {release.name}`.")
    identity = (release.name, release.version)
    if release.is_url:
        return _remote.fetch(release.repo, expected_sha256=release.manifest_sha256, offline=offline,
                             label=label, fix=fix, identity=identity, rehash=rehash)
    return _hf.fetch(release.repo, release.commit, expected_sha256=release.manifest_sha256,
                     offline=offline, label=label, fix=fix, identity=identity, rehash=rehash)


def _local_build(name: str, version: str) -> Path:
    """The local store's build of ``name`` at ``version``, refused if its manifest says otherwise."""
    root = _store.local_path(name, version)
    _store.check_identity(fmt.Manifest.load(root), name, version, where=str(root), fix=_store_fix(root))
    return root


def _store_fix(root: Path) -> str:
    return (f"A dataset was copied into the local store under another name or version: move {root} "
            "to datasets/<its name>/<its version>, or remove it.")


def _check_pushed(url: str, manifest_sha256: str) -> None:
    """Read the manifest back from ``url``: only a push that really landed is recorded."""
    text = _remote.read_bytes(f"{url}/{fmt.MANIFEST_NAME}", what="the pushed manifest")
    sha = hashlib.sha256(text).hexdigest()
    if sha != manifest_sha256:
        raise HubError(
            f"The manifest read back from {url} has sha256 {sha}, not the pushed {manifest_sha256}; "
            "something else wrote there. Nothing was recorded in the registry: check the target and "
            "push again."
        )


# fsspec protocols a push cannot use, and why
_READ_ONLY = ("http", "https", "data", "github", "gist", "git", "zip", "tar", "libarchive", "reference")
_WRAPPERS = ("cached", "simplecache", "filecache", "blockcache", "dir", "generic", "async_wrapper",
             "asyncwrapper")
_NOT_PUSHABLE = {
    "memory": "keeps files only inside this Python process, so nobody could download the release",
    **{p: "is read-only in fsspec" for p in _READ_ONLY},
    **{p: "wraps another filesystem; give that storage's own URL" for p in _WRAPPERS},
}
_URL_EXAMPLE = "s3://bucket/neural_digits/1.0.0, gs://bucket/path, az://container/path or file:///abs/path"


def _check_not_onto_itself(root: Path, url: str) -> None:
    """Refuse a ``file://`` target that is, holds or lies inside the dataset being pushed, or
    is or lies inside the local store (``$ARENA_HOME``), whose layout only the Arena writes."""
    protocol, rest = url.split("://", 1)
    if protocol not in ("file", "local"):
        return
    target, source, store = Path(rest).resolve(), root.resolve(), _store.home().resolve()
    if target == source or source in target.parents or target in source.parents:
        raise ConfigError(
            f"The push target {url} is, holds or lies inside the dataset being pushed ({source}); "
            "a push there would overwrite it. Push to another directory."
        )
    if target == store or store in target.parents:
        raise ConfigError(
            f"The push target {url} is inside the local store {store} ($ARENA_HOME), which the Arena "
            "manages (builds, downloads, the registry): a push there would pass for a build or a "
            "download. Push to a directory outside it."
        )


def _check_url_target(target: str) -> str:
    """``target`` without trailing '/', if it is a URL a dataset can be pushed to for good."""
    import fsspec

    protocol, rest = target.split("://", 1)
    if any(ord(c) < 32 for c in target):
        raise ConfigError(f"The push target {target!r} holds a control character; use e.g. {_URL_EXAMPLE}.")
    if "::" in protocol or protocol not in fsspec.available_protocols():
        raise ConfigError(
            f"The push target {target!r} has protocol '{protocol}://', which fsspec does not know "
            f"(or a chained URL); push to a Hugging Face repo OWNER/NAME or to a URL such as {_URL_EXAMPLE}."
        )
    if protocol in _NOT_PUSHABLE:
        raise ConfigError(f"Cannot push to {target!r}: '{protocol}://' {_NOT_PUSHABLE[protocol]}. "
                          f"Push to a Hugging Face repo OWNER/NAME or to a URL such as {_URL_EXAMPLE}.")
    _check_url_path(target, rest, local=protocol in ("file", "local"))
    return target.rstrip("/")


def _check_url_path(target: str, rest: str, *, local: bool) -> None:
    """A local target needs an absolute directory; any other a bucket and a path inside it."""
    if local and not rest.startswith("/"):
        raise ConfigError(f"The push target {target!r} is not an absolute path; use file:///abs/path.")
    parts = rest.rstrip("/").split("/")[1 if local else 0:]
    what = "directory" if local else "bucket and a path inside it"
    if len(parts) < (1 if local else 2) or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(
            f"The push target {target!r} does not name a {what} (empty, '.' or '..' parts are "
            f"refused); use e.g. {_URL_EXAMPLE}."
        )


def _release_copy(release: Release) -> Path | None:
    if release.repo is None:
        return None
    if release.is_url:
        copies = _remote.cached_copies(release.repo)
        want = (release.manifest_sha256 or "")[:16]
        return next((p for p in copies if p.name == want), None)
    return next((p for p in _hf.snapshots(release.repo) if p.name == release.commit), None)


def _local_copy(name: str, entry: Entry | None) -> Path | None:
    built = _built_version(name, None, entry)
    if built is not None:
        return _store.local_path(name, built)
    if entry is None or not entry.releases:
        return None
    copy = _release_copy(entry.release())
    return copy if copy is not None and _complete(copy, name) else None


def _release_manifest(release: Release) -> bytes:
    if release.is_url:
        return _remote.read_bytes(f"{release.repo.rstrip('/')}/{fmt.MANIFEST_NAME}")
    return _hf.manifest_bytes(release.repo, release.commit)


def _complete(root: Path, name: str) -> bool:
    try:
        files = fmt.open_dataset(root)
    except (ArenaError, OSError):
        return False
    return files.manifest.name == name


def _check_version_wanted(version: str | None) -> None:
    """Refuse an empty version: it would silently mean the default one."""
    if version is not None and (not isinstance(version, str) or not version):
        raise ConfigError(
            f"The version asked for is {version!r}; give a version such as 1.0.0, or none for the "
            "registry's (`arena list` shows every version)."
        )


def _check_version(root: Path, version: str | None, ref: str) -> None:
    if version is None:
        return
    found = fmt.Manifest.load(root).version
    if found != version:
        raise DatasetNotFoundError(f"{ref} holds version {found}, not the requested {version}.")


def _counts(manifest: fmt.Manifest) -> dict[str, int]:
    return {split: manifest.num_examples(split) for split in manifest.splits}


def _not_published(release: Release) -> NotPublishedError:
    command = release.command or f"arena-build {release.name}"
    return NotPublishedError(
        f"Dataset '{release.name}' {release.version} is not published yet (the registry has no "
        f"commit for it). Make it here instead: {command}"
    )


def _unknown(name: str, version: str | None) -> DatasetNotFoundError:
    try:
        known = sorted(set(registry()) | set(_store.local_names()))
    except ArenaError:
        known = _store.local_names()
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    built = _store.local_versions(name)
    if built and version is not None:
        return DatasetNotFoundError(
            f"Dataset '{name}' has no version {version!r} here; built versions: {', '.join(built)}."
        )
    return DatasetNotFoundError(
        f"Unknown dataset '{name}'.{hint} Known datasets: {', '.join(known) or 'none'}. "
        "`arena list` shows them all."
    )
