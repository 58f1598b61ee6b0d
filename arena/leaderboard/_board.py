"""A leaderboard folder as a whole: its tables, its rendered files, where a fresh result would rank."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from arena import format as fmt
from arena.errors import ArenaError, LeaderboardError
from arena.leaderboard import _collect
from arena.leaderboard._markdown import MARK, render_markdown
from arena.leaderboard._rows import Table
from arena.leaderboard._terminal import print_tables
from arena.leaderboard._verify import pinned, verify

README, PAGE = "README.md", "index.html"
CANDIDATE = "this-run"


def collect(root: str | os.PathLike, *, dataset: str | None = None) -> list[Table]:
    """The tables of a leaderboard folder that verifies (else :class:`LeaderboardError`).

    Args:
        root: the leaderboard folder.
        dataset: only this dataset's table.
    """
    report = verify(root)
    report.require_ok()
    tables = _collect.tables(report.entries)
    if dataset is None:
        return tables
    chosen = [t for t in tables if t.dataset == dataset]
    if not chosen:
        known = ", ".join(t.dataset for t in tables) or "none"
        raise LeaderboardError(f"No submissions on {dataset!r} in {root}; the datasets there: {known}.")
    return chosen


def render(root: str | os.PathLike) -> list[Path]:
    """Write ``README.md`` and ``index.html`` of a leaderboard folder that verifies.

    Both are pure functions of the submissions (byte-identical for an unchanged folder) and
    written atomically; a folder that does not verify raises before either is written.
    """
    tables = collect(root)
    from arena.leaderboard._page import render_html

    texts = {README: render_markdown(tables), PAGE: render_html(tables)}
    for name in texts:
        _check_rendered(Path(root) / name)
    return [_write_text(Path(root) / name, text) for name, text in texts.items()]


def show(root: str | os.PathLike, *, dataset: str | None = None, console: Console | None = None) -> None:
    """Print the ranking of a leaderboard folder that verifies."""
    print_tables(collect(root, dataset=dataset), console or Console())


def placement(document: Mapping[str, Any], root: str | os.PathLike) -> Table:
    """The table of ``document``'s dataset and protocol with ``document`` in it, as slug
    :data:`CANDIDATE`.

    Nothing is written: this is where a fresh result would rank if it were submitted.
    """
    report = verify(root)
    report.require_ok()
    d = document["dataset"]["name"]
    submission = {"method": f"{document['model']['name']} (this run)", "code_url": None,
                  "paper_url": None, "hardware": document["environment"]["device"]}
    mine = _collect.row(d, CANDIDATE, document, submission, pinned=pinned(document))
    rows = [r for r in (_collect.row(e.dataset, e.slug, e.result, e.submission, pinned=e.pinned)
                        for e in report.entries if e.dataset == d) if r.protocol == mine.protocol]
    protocol = _collect.EXTERNAL if mine.protocol == _collect.EXTERNAL else _collect.RANKED_PROTOCOL
    return _collect.table(d, [*rows, mine], protocol=protocol)


def print_placement(document: Mapping[str, Any], console: Console, *, root: Path | None = None) -> None:
    """Show where ``document`` would rank in the leaderboard at ``root`` (default: ./leaderboard,
    else the repository's when run from a clone); print nothing when there is none."""
    root = root if root is not None else default_root()
    if root is None:
        return
    shown = root if Path(root).is_absolute() or str(root).startswith(".") else f"./{root}"
    try:
        table = placement(document, root)
    except ArenaError as exc:
        console.print(f"[yellow]No ranking against {shown}:[/] {exc}", highlight=False)
        return
    mine = next(r for r in table.rows if r.slug == CANDIDATE)
    where = (f"would rank {mine.rank} of {sum(r.rank is not None for r in table.rows)}"
             if mine.rank is not None else f"would be listed unranked ({mine.verified})")
    ties = [r.method for r in table.rows if r.slug != CANDIDATE and r.rank is not None and mine.rank is not None
            and (r.test_mean, r.val_mean) == (mine.test_mean, mine.val_mean)]
    if ties:
        where += f", tied with {', '.join(ties)} (the same test and val means)"
    console.print(f"On the leaderboard in {shown}, this run {where} on {table.dataset} (nothing written there):")
    print_tables([table], console, highlight=CANDIDATE)


def default_root() -> Path | None:
    """./leaderboard if it exists, else the leaderboard of the clone this package runs from."""
    here = Path("leaderboard")
    if here.is_dir():
        return here
    clone = Path(__file__).resolve().parents[2]
    if (clone / ".git").exists() and (clone / "leaderboard" / "submissions").is_dir():
        return clone / "leaderboard"
    return None


def _check_rendered(path: Path) -> None:
    """Refuse to replace a file that an earlier render did not write: it carries :data:`MARK` (or,
    for a page rendered before the mark, the page's title)."""
    if not path.exists() and not path.is_symlink():
        return
    from html import escape

    from arena.leaderboard._page import TITLE

    signs = (MARK.encode(), f"<title>{escape(TITLE)}</title>".encode())
    try:
        head = path.read_bytes()[:4096] if path.is_file() and not path.is_symlink() else b""
    except OSError:
        head = b""
    ours = any(sign in head for sign in signs)
    if not ours:
        raise LeaderboardError(
            f"{path} exists and was not written by arena leaderboard render, so it is left as it is "
            "and nothing was rendered; move it away, or render the leaderboard folder that holds submissions/."
        )


def _write_text(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    return fmt.write_bytes_atomic(path, data)
