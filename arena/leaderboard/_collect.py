"""From verified submissions to :class:`Table` s: the one place where ranks are decided.

Within a table, rows are ordered by test mean (descending), then val mean (descending), then
slug; results on a pinned release are ranked (1, 2, ...), the others follow, unranked. Each
dataset is its own table, so a ``*_subset`` dataset is never ranked with its full dataset, and a
dataset's external-protocol results (trained outside the harness) are a second table of their
own, after its protocol-v1 table: they are never ranked with protocol v1. Tables are in
dataset-name order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from arena.leaderboard._cells import EXTERNAL
from arena.leaderboard._rows import Row, Table
from arena.leaderboard._verify import SUBSET_SUFFIX, Entry

VERIFIED, UNVERIFIED = "verified", "unverified dataset"
RANKED_PROTOCOL = "v1"


def tables(entries: Iterable[Entry]) -> list[Table]:
    """One table per dataset and protocol (v1 first), best first."""
    groups: dict[tuple[str, bool], list[Row]] = {}
    for entry in entries:
        r = row(entry.dataset, entry.slug, entry.result, entry.submission, pinned=entry.pinned)
        groups.setdefault((entry.dataset, r.protocol == EXTERNAL), []).append(r)
    return [table(name, rows, protocol=EXTERNAL if external else RANKED_PROTOCOL)
            for (name, external), rows in sorted(groups.items())]


def table(dataset: str, rows: Iterable[Row], *, protocol: str = RANKED_PROTOCOL) -> Table:
    """Order ``rows`` of one dataset and ``protocol`` and number the ranked ones."""
    ordered = sorted(rows, key=lambda r: (-r.test_mean, -r.val_mean, r.slug))
    ranked = [r for r in ordered if _rankable(r, protocol)]
    numbered = [_with_rank(r, i) for i, r in enumerate(ranked, 1)]
    numbered += [_with_rank(r, None) for r in ordered if not _rankable(r, protocol)]
    kind = "subset" if dataset.endswith(SUBSET_SUFFIX) else "full"
    return Table(dataset=dataset, kind=kind, rows=tuple(numbered), protocol=protocol)


def row(dataset: str, slug: str, result: Mapping[str, Any], submission: Mapping[str, Any], *,
        pinned: bool) -> Row:
    """The row of one submission (unranked until :func:`table` numbers it)."""
    summary, model, data = result["summary"], result["model"], result["dataset"]
    return Row(
        dataset=dataset,
        slug=slug,
        rank=None,
        method=submission["method"],
        url=submission.get("code_url") or submission.get("paper_url"),
        test_mean=summary["test_mean"],
        test_std=summary["test_std"],
        num_seeds=summary["num_seeds"],
        val_mean=summary["val_mean"],
        num_parameters=model["num_parameters"],
        input_kind=model["input"],
        protocol=protocol_of(result),
        dataset_version=data["version"],
        manifest_short=data["manifest_sha256"][:8],
        date=result["created"][:10],
        verified=VERIFIED if pinned else UNVERIFIED,
        hardware=submission["hardware"],
    )


def protocol_of(result: Mapping[str, Any]) -> str:
    """``"v1"`` or ``"external"``, as a row shows a result's protocol."""
    version = result["protocol"]["version"]
    return EXTERNAL if version == EXTERNAL else f"v{version}"


def _rankable(r: Row, protocol: str) -> bool:
    return r.verified == VERIFIED and r.protocol == protocol


def _with_rank(r: Row, rank: int | None) -> Row:
    return dataclasses.replace(r, rank=rank)
