"""Datasets on a Hugging Face Hub (``HF_ENDPOINT``), through huggingface_hub for everything.

Push: one commit holding the whole dataset directory (files the previous head had and this
dataset lacks are deleted in the same commit), then a tag named after the version
(:func:`version_tag`). Pull: ``arena.json`` first (``hf_hub_download``), checked against the
registry's sha256 when there is one, then every file it lists (``snapshot_download``, pinned to
the commit the manifest came from), into huggingface_hub's cache under ``<home>/hub/hf``. Its
downloads go to a process-unique temporary file renamed when complete, under a per-file lock;
a connection dropped mid-file is resumed from the bytes already written (an HTTP Range request,
up to 5 retries; bytes arrive in 10 MiB chunks). Files already complete stay in the cache, so
rerunning an interrupted download fetches only the missing files; a partial file does not
survive its process (huggingface_hub 2.x deletes it). Every file is then verified against the
manifest's sha256; a bad one is evicted from the cache and fetched once more.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from arena import format as fmt
from arena.errors import ArenaError, ChecksumError, ConfigError
from arena.hub import _store
from arena.hub._errors import AlreadyPublishedError, DatasetNotFoundError, HubError, OfflineError

REPO_TYPE = "dataset"
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# what `git check-ref-format` refuses: control characters, space, ~^:?*[\, '..', '@{', '//',
# a component starting with '.' or ending with '.lock', a leading or trailing '/', a trailing '.'
_BAD_REF_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|(^|/)\.|\.lock(/|$)|^/|/$|\.$|^@$")


def version_tag(version: str) -> str:
    """The git tag of a dataset version: ``v`` + the version, ``+`` written as ``_``.

    ``+`` (semver build metadata, as in ``1.0.0+custom.3f2a``) is legal in a git ref, but a
    ``+`` in a URL is often decoded as a space, and tags travel in URLs (``/resolve/<tag>/``).
    Semantic versions never contain ``_``, so the mapping is one to one:
    ``1.0.0+custom.3f2a`` -> ``v1.0.0_custom.3f2a``.
    """
    return "v" + version.replace("+", "_")


def endpoint() -> str:
    """The Hub's URL: ``$HF_ENDPOINT`` (read now, not at import), else huggingface_hub's default."""
    hf = _hf()
    return (os.environ.get("HF_ENDPOINT") or hf.constants.ENDPOINT).rstrip("/")


def check_repo_id(repo: str) -> str:
    if not _REPO_RE.match(repo) or "--" in repo or ".." in repo:
        raise ConfigError(
            f"{repo!r} is not a Hugging Face repository id; use 'owner/name' "
            "(or hf://datasets/owner/name, or an fsspec URL such as s3://bucket/path)."
        )
    return repo


def check_revision(revision: str, ref: str) -> str:
    """``revision`` if it can be a git reference (a tag, a branch, a commit id), else a ConfigError."""
    if not revision or _BAD_REF_RE.search(revision):
        raise ConfigError(
            f"{revision!r} (in {ref!r}) is not a valid revision: a revision is a git reference (a "
            "tag such as v1.0.0, a branch or a commit id), which cannot be empty or hold spaces, "
            "control characters such as a newline, any of ~^:?*[\\, '..' or '@{'. Fix the reference."
        )
    return revision


def fetch(repo: str, revision: str, *, expected_sha256: str | None, offline: bool, label: str,
          fix: str, identity: tuple[str, str] | None = None, rehash: bool = False) -> Path:
    """A verified local copy of dataset repository ``repo`` at ``revision`` (module docstring).

    ``identity``: the ``(name, version)`` its manifest must carry (a registry release's);
    ``rehash``: re-hash every cached file, even those verified before.
    """
    hf = _hf()
    check_revision(revision, f"hf://datasets/{repo}@{revision}")
    with _store.lock("hf-" + repo):
        root, text = _manifest(hf, repo, revision, expected_sha256, offline, label, fix)
        sha = hashlib.sha256(text).hexdigest()
        source = f"hf://datasets/{repo}@{root.name}/{fmt.MANIFEST_NAME}"
        manifest = fmt.Manifest.from_json(text, source=source)
        if identity is not None:
            _store.check_identity(manifest, *identity, where=f"hf://datasets/{repo}@{root.name}",
                                  fix=_store.REGISTRY_FIX)
        entries = manifest.all_files()
        missing = [e.path for e in entries if not (root / e.path).exists()]
        if missing and offline:
            raise OfflineError(
                f"{label} is only partly in the local cache ({len(missing)} of {len(entries)} files "
                f"missing) and offline mode is on (ARENA_OFFLINE / HF_HUB_OFFLINE). {fix}"
            )
        if missing:
            _download(hf, repo, root.name, missing, label)
        bad = _store.verify_files(root, entries, sha, rehash=rehash)
        if bad and not offline:
            for entry, _ in bad:
                _evict(root / entry.path)
            _download(hf, repo, root.name, [e.path for e, _ in bad], label)
            bad = _store.verify_files(root, entries, sha)
        if bad:
            for entry, _ in bad:
                _evict(root / entry.path)  # never keep a bad copy: the next attempt fetches it again
            names = ", ".join(f"'{e.path}'" for e, _ in bad)
            details = " ".join(str(exc) for _, exc in bad)
            again = (
                f"Go online and run the same command again to fetch them again. {fix}" if offline
                else f"The copy served by {endpoint()} is damaged; it was removed from the cache."
            )
            raise type(bad[0][1])(
                f"{label}: {len(bad)} file(s) failed verification: {names}. {details} {again}"
            )
        return root


def _manifest(hf, repo, revision, expected, offline, label, fix) -> tuple[Path, bytes]:
    """Download ``arena.json`` at ``revision``: its snapshot directory and bytes, checked."""
    for attempt in range(2):
        with _errors(f"download {label}", repo, revision, offline=offline, fix=fix):
            path = Path(hf.hf_hub_download(
                repo, fmt.MANIFEST_NAME, repo_type=REPO_TYPE, revision=revision,
                cache_dir=str(_store.hf_cache()), endpoint=endpoint(), local_files_only=offline,
            ))
        text = path.read_bytes()
        sha = hashlib.sha256(text).hexdigest()
        if expected is None or sha == expected:
            return path.parent, text
        if offline or attempt:
            raise ChecksumError(
                f"The manifest '{fmt.MANIFEST_NAME}' of {label} (hf://datasets/{repo}@{path.parent.name}) "
                f"has sha256 {sha}, but the registry lists {expected}; refusing it. "
                "The registry entry and the repository disagree: fix the entry (arena push "
                "records the right one) or report it."
            )
        _evict(path)  # maybe damaged in the cache: fetch it once more
    raise AssertionError("unreachable")


def manifest_bytes(repo: str, commit: str) -> bytes:
    """The bytes of ``arena.json`` at ``commit`` (downloaded into the cache alone)."""
    hf = _hf()
    with _errors("read the manifest", repo, commit, offline=False, fix=""):
        path = hf.hf_hub_download(
            repo, fmt.MANIFEST_NAME, repo_type=REPO_TYPE, revision=commit,
            cache_dir=str(_store.hf_cache()), endpoint=endpoint(),
        )
    return Path(path).read_bytes()


def _download(hf, repo: str, commit: str, paths: list[str], label: str) -> None:
    with _errors(f"download {label}", repo, commit, offline=False, fix=""):
        hf.snapshot_download(
            repo, repo_type=REPO_TYPE, revision=commit, allow_patterns=paths,
            cache_dir=str(_store.hf_cache()), endpoint=endpoint(),
        )


def _evict(pointer: Path) -> None:
    """Remove a cached file: its snapshot link and the blob it points to."""
    try:
        blob = pointer.resolve(strict=True) if pointer.is_symlink() else None
    except OSError:
        blob = None
    pointer.unlink(missing_ok=True)
    if blob is not None and _store.hf_cache() in blob.parents:
        blob.unlink(missing_ok=True)


def snapshots(repo: str) -> list[Path]:
    """The snapshot directories of ``repo`` in the cache that hold a manifest."""
    folder = _store.hf_cache() / ("datasets--" + repo.replace("/", "--")) / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / fmt.MANIFEST_NAME).is_file())


def push(root: Path, repo: str, *, manifest: fmt.Manifest, manifest_sha256: str, files: list[str],
         force: bool, token: str | None) -> str:
    """Upload ``root`` to dataset repository ``repo`` as one commit, tag it; return the commit.

    The commit deletes what the previous head had and ``files`` lack, so a repository whose head
    holds files but no ``arena.json`` (not an Arena dataset) is refused unless ``force``.
    """
    hf = _hf()
    check_repo_id(repo)
    api = hf.HfApi(endpoint=endpoint(), token=token)
    tag = version_tag(manifest.version)
    with _errors(f"push {manifest.name} {manifest.version}", repo, None, offline=False, fix="", write=True):
        api.create_repo(repo, repo_type=REPO_TYPE, exist_ok=True)
        tags = {t.name: t.target_commit for t in api.list_repo_refs(repo, repo_type=REPO_TYPE).tags}
        if tag in tags and not force:
            raise AlreadyPublishedError(
                f"hf://datasets/{repo} already has version {manifest.version} (tag {tag} -> commit "
                f"{tags[tag][:12]}); refusing to publish it again. Bump the version, or pass "
                "force=True (--force) to move the tag to the new upload."
            )
        head = set(api.list_repo_files(repo, repo_type=REPO_TYPE)) - {".gitattributes"}
        if head and fmt.MANIFEST_NAME not in head and not force:
            shown = ", ".join(repr(p) for p in sorted(head)[:5]) + (", ..." if len(head) > 5 else "")
            raise ConfigError(
                f"hf://datasets/{repo} holds no Arena dataset but has files ({shown}) that this push "
                "would delete or overwrite; refusing. Push to a new repository, or pass force=True "
                "(--force) to replace them."
            )
        stale = head - set(files)
        operations = [hf.CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(root / rel))
                      for rel in files]
        operations += [hf.CommitOperationDelete(path_in_repo=rel) for rel in sorted(stale)]
        info = api.create_commit(
            repo, operations, repo_type=REPO_TYPE,
            commit_message=f"{manifest.name} {manifest.version}",
            commit_description=(f"Arena dataset {manifest.name} {manifest.version}, "
                                f"manifest sha256 {manifest_sha256}."),
        )
        if tag in tags:
            api.delete_tag(repo, tag=tag, repo_type=REPO_TYPE)
        api.create_tag(repo, tag=tag, revision=info.oid, repo_type=REPO_TYPE,
                       tag_message=f"{manifest.name} {manifest.version}")
    return info.oid


@contextlib.contextmanager
def _errors(what: str, repo: str, revision: str | None, *, offline: bool, fix: str,
            write: bool = False) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into the Arena's, each one clear sentence."""
    from huggingface_hub import errors as e

    where = f"hf://datasets/{repo}" + (f"@{revision}" if revision else "")
    try:
        yield
    except ArenaError:
        raise
    except e.GatedRepoError as exc:
        raise HubError(f"{where} is gated: accept its terms on the Hub and log in (hf auth login).") from exc
    except e.RepositoryNotFoundError as exc:
        raise DatasetNotFoundError(
            f"Could not {what}: no dataset repository '{repo}' at {endpoint()} (or it is private "
            "and no valid token was given). Check the repository id and HF_ENDPOINT."
        ) from exc
    except e.RevisionNotFoundError as exc:
        raise DatasetNotFoundError(
            f"Could not {what}: dataset repository '{repo}' has no revision '{revision}'. "
            "A dataset version is published as tag v<version> ('+' written '_')."
        ) from exc
    except e.LocalEntryNotFoundError as exc:
        if offline:
            raise OfflineError(
                f"Could not {what}: {where} is not in the local cache and offline mode is on "
                f"(ARENA_OFFLINE / HF_HUB_OFFLINE). {fix}"
            ) from exc
        raise HubError(
            f"Could not {what}: {endpoint()} cannot be reached and {where} is not in the local "
            "cache. Check the network and HF_ENDPOINT."
        ) from exc
    except e.EntryNotFoundError as exc:
        raise DatasetNotFoundError(
            f"Could not {what}: {where} has no {fmt.MANIFEST_NAME}, so it is not an Arena dataset."
        ) from exc
    except e.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = ""
        if write and status in (401, 403):
            hint = " Pushing needs a write token: log in with `hf auth login`, set HF_TOKEN, or pass --token."
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HubError(f"Could not {what}: {endpoint()} answered {status}: {first}.{hint}") from exc
    except e.OfflineModeIsEnabled as exc:
        raise OfflineError(
            f"Could not {what}: offline mode is on (HF_HUB_OFFLINE) and {where} is not cached. {fix}"
        ) from exc
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise HubError(f"Could not {what}: {endpoint()} failed: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise HubError(
                f"Could not {what}: {endpoint()} cannot be reached ({type(exc).__name__}: {exc}). "
                "Check the network and HF_ENDPOINT; with the dataset cached, ARENA_OFFLINE=1 works "
                "without a network."
            ) from exc
        raise


def _hf():
    import huggingface_hub  # a core dependency, imported only when a hub is used

    return huggingface_hub
