"""``arena leaderboard show``: the ranking as rich tables (the same cells as README.md)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from arena.leaderboard._cells import COLUMNS, RIGHT, SHORT, TEST, cells, title
from arena.leaderboard._rows import Table


WIDE = 150  # narrower consoles get the columns that rank, not protocol, date and hardware
NARROW = ("rank", "method", TEST, "val %", "parameters", "input", "dataset", "verified")
MEDIUM = 110  # below it (an 80-column terminal): the ranking itself, so no word is cut in two
COMPACT = ("rank", "method", TEST, "val %", "parameters")


def print_tables(tables: list[Table], console: Console, *, highlight: str | None = None) -> None:
    """Print each table; the row whose slug is ``highlight`` is shown in bold."""
    if not tables:
        console.print("No submissions yet.")
    columns = COLUMNS if console.width >= WIDE else NARROW if console.width >= MEDIUM else COMPACT
    for table in tables:
        out = rich_table(table, highlight=highlight, columns=columns)
        if "verified" not in columns and any(row.rank is None for row in table.rows):
            out.caption += "; –: not ranked (a wider terminal says why)"
        console.print(out)


def rich_table(table: Table, *, highlight: str | None = None, columns: tuple[str, ...] = COLUMNS) -> RichTable:
    """One dataset's table; cell text is shown as is (a method name is never rich markup)."""
    out = RichTable(title=Text(title(table)), title_justify="left",
                    caption=f"test %: {TEST.removeprefix('test accuracy % ')}", caption_justify="left")
    for column in columns:
        out.add_column(SHORT.get(column, column), justify="right" if column in RIGHT else "left",
                       no_wrap=column in RIGHT, overflow="fold")
    for row in table.rows:
        values = cells(row)
        out.add_row(*(Text(values[c]) for c in columns), style="bold green" if row.slug == highlight else None)
    return out
