"""The leaderboard as one self-contained HTML page: tables, filters and an SVG chart per dataset.

Nothing is fetched: the style, the script and the charts are inline, and a Content Security
Policy pinned to their sha256 lets nothing else load or run, so the page works from ``file://``
exactly as it does from a web server. The same tables always give the same bytes (no clock, no
random ids), so a re-render of an unchanged leaderboard is byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from arena.leaderboard._cells import EXTERNAL
from arena.leaderboard._markdown import MARK
from arena.leaderboard._rows import Row, Table

TITLE = "Neural Field Arena — Leaderboard"

SUMMARY = (
    "Weight-space models ranked by test accuracy on neural datasets (datasets of fitted neural "
    "fields). Rules: protocol v1; at least 3 seeds, reported as mean ± sample std; model "
    "selection on validation only, test scored once per seed; every dataset pinned by its "
    "manifest hash; full and <code>*_subset</code> datasets are never ranked together; the "
    "hardware is reported but never ranks. Rows marked – are not ranked (unverified dataset)."
)

EXTERNAL_NOTE = (
    "External protocol: models trained outside the harness by the submitter's own loop, their "
    "predictions scored by <code>arena.eval.Evaluator</code>; the seeds and the selection on "
    "validation are declared by the submitter. Ranked among themselves, never with protocol v1."
)

# (header, cell type): "num" columns sort by the raw number in each cell's data-value
COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "num"), ("method", "text"), ("test %", "num"), ("val %", "num"),
    ("parameters", "num"), ("input", "text"), ("protocol", "text"), ("dataset", "text"),
    ("date", "text"), ("verified", "text"), ("hardware", "text"),
)

STYLE = """
:root { --fg: #1d2430; --muted: #687385; --line: #dde2ea; --accent: #0b5cad; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 24px 28px 48px; max-width: 1360px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 0 0 10px; display: flex; align-items: center; gap: 10px; }
p.summary { color: var(--muted); margin: 0 0 18px; max-width: 980px; }
.filters { display: flex; gap: 22px; padding: 10px 14px; background: #f4f6f9;
  border: 1px solid var(--line); border-radius: 8px; margin-bottom: 22px; }
.filters label { font-weight: 600; }
.filters select { margin-left: 6px; font: inherit; }
section.board { margin: 0 0 36px; }
.badge { font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 10px;
  background: #e4effa; color: var(--accent); }
.badge.subset { background: #fdf0e3; color: #9a4d00; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
th { background: #f4f6f9; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
  padding: 0; cursor: pointer; }
th button::after { content: " ↕"; color: #aab3c0; }
th[aria-sort="ascending"] button::after { content: " ▲"; color: var(--accent); }
th[aria-sort="descending"] button::after { content: " ▼"; color: var(--accent); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 10em; }
tr.entry:hover, tr.entry.hl { background: #fff8d6; }
tr.unranked { color: var(--muted); font-style: italic; background: repeating-linear-gradient(
  135deg, #fafbfc, #fafbfc 6px, #f1f3f6 6px, #f1f3f6 12px); }
tr.unranked td:first-child { border-left: 3px solid #c0c7d2; }
tr.empty td { color: var(--muted); text-align: center; }
a { color: var(--accent); }
.off { display: none; }
svg.chart { display: block; margin-top: 14px; max-width: 100%; height: auto; }
svg.chart text { font: 12px system-ui, sans-serif; fill: var(--muted); }
svg.chart .axis { stroke: #8a94a3; }
svg.chart .grid { stroke: #edf0f4; }
svg.chart .err { stroke: #4b5563; stroke-width: 1.5; }
svg.chart .mark { fill: #6b7280; stroke: #fff; stroke-width: 1.5; }
svg.chart [data-input="flat"] .mark { fill: #0072b2; }
svg.chart [data-input="layers"] .mark { fill: #d55e00; }
svg.chart [data-input="graph"] .mark { fill: #009e73; }
svg.chart .unranked .mark { fill: #fff; stroke: #6b7280; stroke-dasharray: 2 2; }
svg.chart .point.hl .mark { stroke: #111; stroke-width: 2.5; }
svg.chart text.mark-label { fill: var(--fg); }
svg.chart text.empty-note { font-size: 14px; }
"""

SCRIPT = """
(function () {
  "use strict";
  var datasetFilter = document.getElementById("dataset-filter");
  var inputFilter = document.getElementById("input-filter");
  function applyFilters() {
    var dataset = datasetFilter.value, kind = inputFilter.value;
    document.querySelectorAll("section.board").forEach(function (section) {
      section.classList.toggle("off", dataset !== "all" && section.dataset.dataset !== dataset);
    });
    document.querySelectorAll("tr.entry, g.point").forEach(function (el) {
      el.classList.toggle("off", kind !== "all" && el.dataset.input !== kind);
    });
  }
  function compare(a, b, numeric) {
    if (a === "" || b === "") { return (a === "") - (b === ""); }
    return numeric ? Number(a) - Number(b) : a.localeCompare(b);
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.dataset.type === "num";
    var order = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var sign = order === "ascending" ? 1 : -1;
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", order);
    var rows = Array.prototype.slice.call(body.querySelectorAll("tr.entry"));
    rows.sort(function (x, y) {
      var a = x.cells[column].dataset.value, b = y.cells[column].dataset.value;
      var blank = (a === "") - (b === "");
      return blank || sign * compare(a, b, numeric) || x.dataset.order - y.dataset.order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  function pointFor(row) {
    var selector = 'g.point[data-slug="' + CSS.escape(row.dataset.slug) + '"]';
    return row.closest("section.board").querySelector(selector);
  }
  datasetFilter.addEventListener("change", applyFilters);
  inputFilter.addEventListener("change", applyFilters);
  document.querySelectorAll("th button").forEach(function (button) {
    button.addEventListener("click", function () { sortBy(button.closest("th")); });
  });
  document.querySelectorAll("tr.entry").forEach(function (row) {
    var point = pointFor(row);
    row.addEventListener("mouseenter", function () { point.classList.add("hl"); });
    row.addEventListener("mouseleave", function () { point.classList.remove("hl"); });
  });
  applyFilters();
})();
"""


def render_html(tables: Sequence[Table]) -> str:
    """The whole leaderboard as one HTML page that loads nothing from anywhere.

    Args:
      tables: one table per dataset, rows best first, in the order the page shows them.

    Returns:
      The page; the same tables always give the same string.
    """
    body = "\n".join([
        f"<h1>{escape(TITLE)}</h1>",
        f'<p class="summary">{SUMMARY}</p>',
        _filters(tables),
        *(_section(table) for table in tables),
        f"<script>{SCRIPT}</script>",
    ])
    return (
        f"<!DOCTYPE html>\n{MARK}\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_policy()}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(TITLE)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _policy() -> str:
    """Only this page's own style and script may apply: nothing loads, nothing injected runs."""
    return (
        f"default-src 'none'; style-src '{_sha256(STYLE)}'; script-src '{_sha256(SCRIPT)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _filters(tables: Sequence[Table]) -> str:
    datasets = list(dict.fromkeys(table.dataset for table in tables))  # a dataset may have two tables
    kinds = sorted({row.input_kind for table in tables for row in table.rows})
    return (
        '<div class="filters">'
        f'<label for="dataset-filter">Dataset</label>{_select("dataset-filter", datasets)}'
        f'<label for="input-filter">Input kind</label>{_select("input-filter", kinds)}'
        "</div>"
    )


def _select(element_id: str, values: Sequence[str]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return f'<select id="{element_id}"><option value="all">all</option>{options}</select>'


def _section(table: Table) -> str:
    dataset = escape(table.dataset)
    kind = escape(table.kind)
    badges, protocol, note = f'<span class="badge {kind}">{kind}</span>', "", ""
    if table.protocol == EXTERNAL:  # its own section, after the dataset's protocol-v1 one
        badges += ' <span class="badge external">external protocol</span>'
        protocol = ' data-protocol="external"'
        note = f'<p class="summary">{EXTERNAL_NOTE}</p>\n'
    return (
        f'<section class="board" data-dataset="{dataset}"{protocol}>\n'
        f"<h2>{dataset} {badges}</h2>\n"
        f"{note}{_table(table)}\n{_chart(table)}\n</section>"
    )


def _table(table: Table) -> str:
    header = "".join(
        f'<th data-type="{kind}"{_initial_sort(name)}><button type="button">{escape(name)}</button></th>'
        for name, kind in COLUMNS
    )
    rows = [_row(row, order) for order, row in enumerate(table.rows)]
    if not rows:
        rows = [f'<tr class="empty"><td colspan="{len(COLUMNS)}">No submissions yet.</td></tr>']
    body = "\n".join(rows)
    return (
        f'<div class="scroll"><table class="board" data-dataset="{escape(table.dataset)}">\n'
        f"<thead><tr>{header}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def _initial_sort(name: str) -> str:
    """The rows arrive best first, which is ascending rank."""
    return ' aria-sort="ascending"' if name == "rank" else ""


def _row(row: Row, order: int) -> str:
    rank = "" if row.rank is None else str(row.rank)
    cells = "".join([
        _cell(rank, rank or "–", num=True),
        _cell(row.method, _method(row), wrap=True),
        _cell(repr(row.test_mean), escape(_test_text(row)), num=True),
        _cell(repr(row.val_mean), f"{100 * row.val_mean:.2f}", num=True),
        _cell(str(row.num_parameters), f"{row.num_parameters:,}", num=True),
        _cell(row.input_kind, escape(row.input_kind)),
        _cell(row.protocol, escape(row.protocol)),
        _cell(f"{row.dataset_version} {row.manifest_short}", _version(row)),
        _cell(row.date, escape(row.date)),
        _cell(row.verified, escape(row.verified)),
        _cell(row.hardware, escape(row.hardware), wrap=True),
    ])
    classes = "entry" if rank else "entry unranked"
    return (
        f'<tr class="{classes}" data-slug="{escape(row.slug)}" '
        f'data-input="{escape(row.input_kind)}" data-order="{order}">{cells}</tr>'
    )


def _cell(value: str, content: str, *, num: bool = False, wrap: bool = False) -> str:
    """A cell showing ``content`` (already HTML) and sorting by the raw ``value``."""
    kind = ' class="num"' if num else ' class="wrap"' if wrap else ""
    return f'<td{kind} data-value="{escape(value)}">{content}</td>'


def _method(row: Row) -> str:
    """The method's name, linked only to a web address (never ``javascript:`` or a local path)."""
    name = escape(row.method)
    if row.url and row.url.startswith(("https://", "http://")):
        return f'<a href="{escape(row.url)}" rel="noopener noreferrer">{name}</a>'
    return name


def _test_text(row: Row) -> str:
    spread = "" if row.test_std is None else f" ± {100 * row.test_std:.2f}"
    seeds = "seed" if row.num_seeds == 1 else "seeds"
    return f"{100 * row.test_mean:.2f}{spread} ({row.num_seeds} {seeds})"


def _version(row: Row) -> str:
    return f'{escape(row.dataset_version)} <code>{escape(row.manifest_short)}</code>'


# The chart: test accuracy (%) against parameters on a log10 axis.

WIDTH, HEIGHT = 880, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 18, 48


@dataclass(frozen=True)
class _Axis:
    """A linear map from data ``lo..hi`` onto pixels ``start..stop``, with its tick values."""

    lo: float
    hi: float
    start: float
    stop: float
    ticks: tuple[float, ...]

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.stop - self.start)


def _chart(table: Table) -> str:
    rows = table.rows
    x = _log_axis([math.log10(max(row.num_parameters, 1)) for row in rows])
    y = _percent_axis(
        [100 * (row.test_mean - (row.test_std or 0.0)) for row in rows]
        + [100 * (row.test_mean + (row.test_std or 0.0)) for row in rows]
    )
    parts = [_x_ticks(x, y), _y_ticks(x, y), _frame(x, y)]
    parts += [_point(row, x, y) for row in rows]
    if rows:
        parts.append(_legend(rows))
    else:
        parts.append(
            f'<text class="empty-note" x="{_f((x.start + x.stop) / 2)}" y="{_f((y.start + y.stop) / 2)}" '
            'text-anchor="middle">No submissions yet.</text>'
        )
    label = escape(f"Test accuracy against parameters on {table.dataset}")
    return (
        f'<svg class="chart" data-dataset="{escape(table.dataset)}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">\n' + "\n".join(parts) + "\n</svg>"
    )


def _log_axis(logs: Sequence[float]) -> _Axis:
    """Whole decades around the data, at least one, with room so no mark sits on an edge."""
    lo = math.floor(min(logs) - 0.15) if logs else 3
    hi = math.ceil(max(logs) + 0.15) if logs else 6
    return _Axis(lo, hi, LEFT, WIDTH - RIGHT, tuple(float(k) for k in range(lo, hi + 1)))


def _percent_axis(values: Sequence[float]) -> _Axis:
    """Round ticks (1, 2 or 5 times a power of ten) around the data; 0..100 when there is none."""
    lo, hi = (min(values), max(values)) if values else (0.0, 100.0)
    if hi - lo < 1.0:
        lo, hi = (lo + hi) / 2 - 0.5, (lo + hi) / 2 + 0.5
    pad = 0.08 * (hi - lo)
    step = _nice_step((hi - lo + 2 * pad) / 5)
    first, last = math.floor((lo - pad) / step), math.ceil((hi + pad) / step)
    if lo >= 0.0:
        first = max(first, 0)
    if hi <= 100.0:
        last = min(last, round(100.0 / step))
    ticks = tuple(round(k * step, 10) for k in range(first, last + 1))
    return _Axis(ticks[0], ticks[-1], HEIGHT - BOTTOM, TOP, ticks)


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if raw <= m * power)


def _x_ticks(x: _Axis, y: _Axis) -> str:
    lines = []
    for tick in x.ticks:
        px = _f(x(tick))
        lines.append(
            f'<line class="grid" x1="{px}" x2="{px}" y1="{_f(y.stop)}" y2="{_f(y.start)}"/>'
            f'<text x="{px}" y="{_f(y.start + 18)}" text-anchor="middle">{_decade(int(tick))}</text>'
        )
    middle = _f((x.start + x.stop) / 2)
    lines.append(f'<text x="{middle}" y="{HEIGHT - 8}" text-anchor="middle">parameters (log scale)</text>')
    return "\n".join(lines)


def _y_ticks(x: _Axis, y: _Axis) -> str:
    step = y.ticks[1] - y.ticks[0]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    lines = []
    for tick in y.ticks:
        py = _f(y(tick))
        lines.append(
            f'<line class="grid" x1="{_f(x.start)}" x2="{_f(x.stop)}" y1="{py}" y2="{py}"/>'
            f'<text x="{_f(x.start - 8)}" y="{py}" dy="4" text-anchor="end">{tick:.{decimals}f}</text>'
        )
    middle = _f((y.start + y.stop) / 2)
    lines.append(
        f'<text x="16" y="{middle}" text-anchor="middle" transform="rotate(-90 16 {middle})">'
        "test accuracy (%)</text>"
    )
    return "\n".join(lines)


def _frame(x: _Axis, y: _Axis) -> str:
    return (
        f'<line class="axis" x1="{_f(x.start)}" x2="{_f(x.stop)}" y1="{_f(y.start)}" y2="{_f(y.start)}"/>'
        f'<line class="axis" x1="{_f(x.start)}" x2="{_f(x.start)}" y1="{_f(y.start)}" y2="{_f(y.stop)}"/>'
    )


def _decade(power: int) -> str:
    """10**power in a few characters: 100, 10k, 1M, 1B."""
    for exponent, suffix in ((9, "B"), (6, "M"), (3, "k")):
        if power >= exponent:
            return f"{10 ** (power - exponent)}{suffix}"
    return f"{10.0 ** power:g}"


def _point(row: Row, x: _Axis, y: _Axis) -> str:
    cx = x(math.log10(max(row.num_parameters, 1)))
    cy = y(100 * row.test_mean)
    bar = "" if row.test_std is None else _error_bar(
        cx, y(100 * (row.test_mean - row.test_std)), y(100 * (row.test_mean + row.test_std))
    )
    classes = "point" if row.rank is not None else "point unranked"
    slug, method = escape(row.slug), escape(row.method)
    tip = escape(f"{row.method}: {_test_text(row)}, {row.num_parameters:,} parameters")
    return (
        f'<g class="{classes}" data-slug="{slug}" data-input="{escape(row.input_kind)}">{bar}'
        f'<circle class="mark" data-slug="{slug}" cx="{_f(cx)}" cy="{_f(cy)}" r="5.5">'
        f"<title>{tip}</title></circle>"
        f"{_label(method, cx, cy, right_half=cx > (x.start + x.stop) / 2)}</g>"
    )


def _label(method: str, cx: float, cy: float, *, right_half: bool) -> str:
    """The method's name beside its mark, towards the middle of the chart so it stays inside."""
    dx, anchor = (-9, "end") if right_half else (9, "start")
    return (
        f'<text class="mark-label" x="{_f(cx + dx)}" y="{_f(cy)}" dy="4" '
        f'text-anchor="{anchor}">{method}</text>'
    )


def _error_bar(cx: float, low: float, high: float) -> str:
    """A vertical line from ``low`` to ``high`` with a short cap at each end."""
    lines = [(cx, cx, low, high), (cx - 4, cx + 4, low, low), (cx - 4, cx + 4, high, high)]
    return "".join(
        f'<line class="err" x1="{_f(a)}" x2="{_f(b)}" y1="{_f(c)}" y2="{_f(d)}"/>' for a, b, c, d in lines
    )


def _legend(rows: Sequence[Row]) -> str:
    """The input kinds present (by colour), and the hollow mark of an unranked row if any."""
    kinds = sorted({row.input_kind for row in rows})
    entries = [(kind, f'class="legend-item" data-input="{escape(kind)}"') for kind in kinds]
    if any(row.rank is None for row in rows):
        entries.append(("unranked", 'class="legend-item unranked"'))
    left = WIDTH - RIGHT + 24
    lines = []
    for i, (name, attributes) in enumerate(entries):
        top = TOP + 10 + 20 * i
        lines.append(
            f'<g {attributes}><circle class="mark" cx="{left}" cy="{top}" r="5"/>'
            f'<text x="{left + 10}" y="{top}" dy="4">{escape(name)}</text></g>'
        )
    return "\n".join(lines)


def _f(value: float) -> str:
    """A pixel coordinate, to two decimals, the same on every platform."""
    return f"{value:.2f}"
