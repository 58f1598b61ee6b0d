"""Raw dataset repositories on a Hugging Face Hub (not Arena datasets): what source readers fetch.

:func:`download_snapshot` downloads a repository's files that match some patterns into the
Arena's Hub cache (``<home>/hub/hf``, huggingface_hub's own layout), pinned to the commit the
revision resolves to. ``HF_ENDPOINT`` is respected; in offline mode (``ARENA_OFFLINE`` /
``HF_HUB_OFFLINE``) only the cache is read; huggingface_hub's errors become the Arena's, each
one sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.hub import _hf, _store


def download_snapshot(repo: str, revision: str | None, *, patterns: Sequence[str], what: str,
                      fix: str) -> Path:
    """The snapshot directory of dataset repository ``repo`` at ``revision``, with its files
    matching ``patterns`` (``["*.parquet"]``) downloaded; the directory's name is the commit.

    Args:
        repo: ``owner/name``.
        revision: a tag, branch or commit; ``None`` for the default branch.
        patterns: glob patterns of the files to fetch.
        what: what is being fetched, for messages (``"the MNIST source"``).
        fix: the last sentence of the error when offline mode finds nothing cached.
    """
    _hf.check_repo_id(repo)
    hf = _hf._hf()
    offline = _store.is_offline()
    with _hf._errors(f"download {what}", repo, revision, offline=offline, fix=fix):
        return Path(hf.snapshot_download(
            repo, repo_type=_hf.REPO_TYPE, revision=revision, allow_patterns=list(patterns),
            cache_dir=str(_store.hf_cache()), endpoint=_hf.endpoint(), local_files_only=offline,
        ))
