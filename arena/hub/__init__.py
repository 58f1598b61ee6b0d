"""Where neural datasets live: the local store, the Hugging Face Hub, fsspec URLs, the registry.

One reference syntax reaches them all (:func:`resolve`): a dataset directory, a registry name
(``"neural_mnist"``), ``hf://datasets/OWNER/NAME[@REVISION]``, or an fsspec URL
(``s3://bucket/path``, ``gs://...``, ``file:///...``).

The local store is ``$ARENA_HOME``, or ``~/.cache/arena`` (following ``$XDG_CACHE_HOME``)::

    <home>/datasets/<name>/<version>/   local builds (arena-build writes here)
    <home>/sources/<source>/            raw source files that builders download
    <home>/hub/hf/                      downloads from a Hugging Face Hub: huggingface_hub's own
                                        cache (datasets--OWNER--NAME/{blobs,snapshots/<commit>,refs})
    <home>/hub/url/<key>/<sha16>/       downloads from fsspec URLs, one directory per manifest
                                        (<key> = sha256 of the URL; ``.partial`` while pulling)
    <home>/hub/verified/                which downloaded files were verified (size, mtime, inode),
                                        so a warm load re-hashes only what changed
    <home>/hub/locks/                   inter-process locks: one download per dataset, one build
                                        per dataset directory at a time (:func:`lock`)
    <home>/registry.json                releases recorded by ``arena push`` (overlays the packaged
                                        registry; ``$ARENA_REGISTRY`` overlays both)

Downloads are pinned (a registry release to its commit and manifest sha256), written through
temporary files renamed when complete, resumed when interrupted, and every file is verified
against the manifest's sha256; a corrupt file is named in the error and evicted from the cache.
With ``ARENA_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` nothing touches the network: datasets come from
the store and cache, and a missing one fails with how to get it.

Publishing (:func:`push`): to a Hugging Face dataset repository, the whole directory as one
commit tagged ``v<version>`` (``+`` written ``_``, see :func:`version_tag`); to an fsspec URL,
the files with the manifest last, then the manifest is read back; only then is the release
recorded. A URL target needs a protocol fsspec can write to for good (``memory://`` and
read-only ones are refused) and a bucket and path. A version already published is refused
unless ``force``.

Paths derived from names (a manifest's ``name`` and ``version``) go through :func:`path_inside`,
so they stay under their root. A name resolves only to a manifest that carries that name (and
a registry release only to its version): a registry entry or a store directory that points at
another dataset is refused.
The Hub is ``$HF_ENDPOINT`` (default https://huggingface.co); tokens come from ``HF_TOKEN`` or
``hf auth login``.

Example:
    >>> root = resolve("neural_digits")           # local build, else the published release
    >>> push(root, "me/neural_digits")             # -> commit id; tag v1.0.0
    >>> resolve("hf://datasets/me/neural_digits@v1.0.0")
"""

from __future__ import annotations

from arena.hub._api import (
    DatasetInfo,
    cached,
    check_target,
    download,
    info,
    locate,
    parse_hf,
    push,
    resolve,
)
from arena.hub._errors import (
    AlreadyPublishedError,
    BusyError,
    DatasetNotFoundError,
    HubError,
    NotPublishedError,
    OfflineError,
    RegistryError,
)
from arena.hub._hf import version_tag
from arena.hub._raw import download_snapshot
from arena.hub._registry import REGISTRY_ENV, Entry, Release, home_registry, registry
from arena.hub._store import (
    HOME_ENV,
    check_output_place,
    home,
    is_offline,
    local_names,
    local_path,
    local_versions,
    lock,
    path_inside,
)

__all__ = [
    "HOME_ENV",
    "REGISTRY_ENV",
    "AlreadyPublishedError",
    "BusyError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "Entry",
    "HubError",
    "NotPublishedError",
    "OfflineError",
    "RegistryError",
    "Release",
    "cached",
    "check_output_place",
    "check_target",
    "download",
    "download_snapshot",
    "home",
    "home_registry",
    "info",
    "is_offline",
    "local_names",
    "local_path",
    "local_versions",
    "locate",
    "lock",
    "parse_hf",
    "path_inside",
    "push",
    "registry",
    "resolve",
    "version_tag",
]
