"""The registry: the single source of truth for where published neural datasets are, pinned.

A registry file (``arena-registry/1``)::

    {"format": "arena-registry/1",
     "datasets": {"neural_mnist": {
         "version": "1.0.0",                                 # the default version
         "releases": {"1.0.0": {"repo": "neural-field-arena/neural_mnist",   # or an fsspec URL
                                "commit": "<40 hex>", "manifest_sha256": "<64 hex>"}}}}}

A release may also carry ``command`` (how to make it here, when not ``arena-build NAME``) and
``num_examples`` (``arena push`` records it); a dataset may carry a ``description``. What a
published dataset is (description, split sizes) comes from :mod:`arena.catalog`, so the
packaged file holds release pins only.

Three local files are merged, later ones overriding earlier ones per dataset field and per
release: the one shipped in the package (``arena/registry.json``), ``<home>/registry.json``
(written by ``arena push``), and the file ``$ARENA_REGISTRY`` names, if set (a path: tests and
private mirrors pin their own releases with it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from arena import catalog
from arena.hub import _store
from arena.hub._errors import DatasetNotFoundError, RegistryError

FORMAT = "arena-registry/1"
REGISTRY_ENV = "ARENA_REGISTRY"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class Release:
    """One published (or planned) version of a dataset.

    Attributes:
        name: the dataset name, e.g. ``"neural_mnist"``.
        version: its semantic version.
        repo: a Hugging Face dataset repository id (``"owner/name"``) or an fsspec URL
            (``"s3://bucket/path"``) of the dataset directory.
        commit: the repository commit it is pinned to (Hugging Face repositories only).
        manifest_sha256: the sha256 of its ``arena.json``; a download must match it.
        num_examples: examples per split, when known (recorded by ``arena push``, else the
            catalog's sizes, :func:`arena.catalog.facts`).
        command: the command that makes this release here, when it is not ``arena-build NAME``
            (a subset is made with ``arena subset``).
    """

    name: str
    version: str
    repo: str | None
    commit: str | None
    manifest_sha256: str | None
    num_examples: Mapping[str, int] | None = None
    command: str | None = None

    @property
    def is_url(self) -> bool:
        """Whether ``repo`` is an fsspec URL rather than a Hugging Face repository id."""
        return self.repo is not None and "://" in self.repo

    @property
    def published(self) -> bool:
        """A release is published once it has a location and a pin (commit, manifest sha256)."""
        pinned = self.manifest_sha256 is not None and (self.is_url or self.commit is not None)
        return self.repo is not None and pinned

    @property
    def where(self) -> str:
        """Where it lives, as a reference :func:`arena.hub.resolve` accepts."""
        if self.repo is None:
            return "-"
        if self.is_url:
            return self.repo
        return f"hf://datasets/{self.repo}" + (f"@{self.commit}" if self.commit else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "manifest_sha256": self.manifest_sha256,
            "num_examples": dict(self.num_examples) if self.num_examples is not None else None,
            **({"command": self.command} if self.command is not None else {}),
        }


@dataclasses.dataclass(frozen=True)
class Entry:
    """A dataset of the registry: its description (recorded, else the catalog's), default
    version and releases."""

    name: str
    description: str
    version: str | None
    releases: Mapping[str, Release]

    def release(self, version: str | None = None) -> Release:
        """The release of ``version`` (default: the entry's default version)."""
        version = version or self.version
        if version is None or version not in self.releases:
            known = ", ".join(sorted(self.releases, key=_store.version_key)) or "none"
            raise DatasetNotFoundError(
                f"The registry has no version {version!r} of '{self.name}'; it has: {known}. "
                "`arena list` shows every dataset and version."
            )
        return self.releases[version]


def registry() -> dict[str, Entry]:
    """Every dataset in the merged registry (package, ``<home>/registry.json``, ``$ARENA_REGISTRY``).

    Returns:
        ``{name: Entry}``, sorted by name.

    Raises:
        RegistryError: a registry file is missing (``$ARENA_REGISTRY``), unreadable or invalid.
    """
    merged: dict[str, dict[str, Any]] = {}
    for data in _documents():
        _merge(merged, data)
    return {name: _entry(name, merged[name]) for name in sorted(merged)}


def home_registry() -> Path:
    """The registry file that ``arena push`` writes: ``<home>/registry.json``."""
    return _store.home() / "registry.json"


def record(release: Release, *, description: str = "") -> Path:
    """Add or replace ``release`` in ``<home>/registry.json`` (atomic, under a lock).

    The release becomes its dataset's default version when the dataset had none, or when its
    version is higher (build metadata ignored, so a ``+custom`` build never replaces the
    published default).
    """
    path = home_registry()
    with _store.lock("registry"):
        data = _read_file(path) if path.is_file() else {"format": FORMAT, "datasets": {}}
        current = registry().get(release.name)
        spec = data["datasets"].setdefault(release.name, {})
        spec.setdefault("releases", {})[release.version] = release.to_json()
        default = current.version if current is not None else None
        if default is None or _precedence(release.version) > _precedence(default):
            spec["version"] = release.version
        if description and not (current and current.description):
            spec["description"] = description
        _store.write_json(path, data)
    return path


def _precedence(version: str) -> tuple:
    return _store.version_key(version)[:5]


def _documents():
    packaged = resources.files("arena").joinpath("registry.json")
    yield _parse(packaged.read_text("utf-8"), "arena/registry.json (packaged)")
    path = home_registry()
    if path.is_file():
        yield _read_file(path)
    extra = os.environ.get(REGISTRY_ENV, "").strip()
    if extra:
        if "://" in extra:
            raise RegistryError(
                f"{REGISTRY_ENV} must be the path of a local registry file ({FORMAT}); got the URL "
                f"{extra!r}. Download the file and point {REGISTRY_ENV} to it, or unset it."
            )
        yield _read_file(Path(extra).expanduser())


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(
            f"{REGISTRY_ENV} points to {path}, which does not exist. Point it to a registry file "
            f"({FORMAT}) or unset it."
        ) from None
    except OSError as exc:
        raise RegistryError(f"Cannot read the registry {path}: {exc}.") from exc
    return _parse(text, str(path))


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"The registry {source} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RegistryError(
            f"The registry {source} is not in format '{FORMAT}' "
            f"(its 'format' is {data.get('format') if isinstance(data, dict) else None!r})."
        )
    datasets = data.get("datasets")
    if not isinstance(datasets, dict):
        raise RegistryError(f"The registry {source} needs a 'datasets' object.")
    for name, spec in datasets.items():
        _check_spec(name, spec, source)
    return data


def _check_spec(name: str, spec: Any, source: str) -> None:
    where = f"The registry {source}: dataset '{name}'"
    if not isinstance(spec, dict):
        raise RegistryError(f"{where} must be a JSON object.")
    for key in ("description", "version"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise RegistryError(f"{where}: '{key}' must be a string; got {spec[key]!r}.")
    releases = spec.get("releases", {})
    if not isinstance(releases, dict):
        raise RegistryError(f"{where}: 'releases' must be an object of version -> release.")
    for version, rel in releases.items():
        if not isinstance(rel, dict):
            raise RegistryError(f"{where}: release {version!r} must be a JSON object.")
        checks = (("repo", None), ("commit", _COMMIT_RE), ("manifest_sha256", _SHA256_RE), ("command", None))
        for key, pattern in checks:
            value = rel.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
                raise RegistryError(f"{where}: release {version!r} has an invalid '{key}': {value!r}.")


def _merge(merged: dict[str, dict[str, Any]], data: dict[str, Any]) -> None:
    for name, spec in data["datasets"].items():
        current = merged.setdefault(name, {"description": "", "version": None, "releases": {}})
        for key in ("description", "version"):
            if spec.get(key) is not None:
                current[key] = spec[key]
        current["releases"].update(spec.get("releases", {}))


def _entry(name: str, spec: dict[str, Any]) -> Entry:
    releases = {
        version: Release(
            name=name,
            version=version,
            repo=rel.get("repo"),
            commit=rel.get("commit"),
            manifest_sha256=rel.get("manifest_sha256"),
            num_examples=rel.get("num_examples") or _catalog_sizes(name, version),
            command=rel.get("command"),
        )
        for version, rel in sorted(spec["releases"].items(), key=lambda kv: _store.version_key(kv[0]))
    }
    version = spec["version"]
    if version is None and releases:
        version = list(releases)[-1]
    description = spec["description"]
    if not description:
        known = catalog.facts(name, version)
        description = known.summary if known is not None else ""
    return Entry(name=name, description=description, version=version, releases=releases)


def _catalog_sizes(name: str, version: str) -> dict[str, int] | None:
    known = catalog.facts(name, version)
    return dict(known.sizes) if known is not None else None
