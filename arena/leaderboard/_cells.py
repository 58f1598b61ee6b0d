"""How a row's numbers are written, the same in README.md and in the terminal."""

from __future__ import annotations

from arena.leaderboard._rows import Row, Table

EXTERNAL = "external"  # Row.protocol / Table.protocol of external-protocol results

TEST = "test accuracy % (mean ± sample std, n seeds)"
COLUMNS = ("rank", "method", TEST, "val %", "parameters", "input", "protocol", "dataset", "date",
           "verified", "hardware")
RIGHT = frozenset({"rank", TEST, "val %", "parameters"})
SHORT = {TEST: "test %", "parameters": "params"}  # headers where the terminal is narrow


def cells(row: Row) -> dict[str, str]:
    """Every column of ``row`` as plain text; the method is its name (links are the renderer's)."""
    return {
        "rank": "–" if row.rank is None else str(row.rank),
        "method": row.method,
        TEST: test(row),
        "val %": f"{100 * row.val_mean:.2f}",
        "parameters": f"{row.num_parameters:,}",
        "input": row.input_kind,
        "protocol": row.protocol,
        "dataset": f"{row.dataset_version} · {row.manifest_short}",
        "date": row.date,
        "verified": row.verified,
        "hardware": row.hardware,
    }


def test(row: Row) -> str:
    std = "n/a" if row.test_std is None else f"{100 * row.test_std:.2f}"
    return f"{100 * row.test_mean:.2f} ± {std} ({row.num_seeds})"


def title(table: Table) -> str:
    text = table.dataset
    if table.kind == "subset":
        text += " (a subset: ranked on its own, never with the full dataset)"
    if table.protocol == EXTERNAL:
        text += (" — external protocol (trained outside the harness, scored by arena.eval.Evaluator; "
                 "seeds and selection on val declared by the submitter; never ranked with protocol v1)")
    return text
