"""``arena study plot``: a sweep's figures and its shared-vs-random table.

From ``SWEEP_DIR/cells.jsonl`` it writes, under ``SWEEP_DIR/figures/`` (or ``out``), each as PNG
and SVG with fixed names:

- ``accuracy_vs_<metric>``: test accuracy (mean over seeds) against the train split's mean
  on-grid PSNR, off-grid PSNR (IoU and off-grid IoU for shapes), their ratio off / on
  (``offgrid_ratio``) and NMI, one panel per model, coloured by init, marked by architecture
  (the paper's Figures 1b, 3, 5-9);
- ``accuracy_and_quality_vs_steps`` (when steps vary): accuracy of the first model and on-grid
  quality against steps, one column per architecture, one line per init and width;
- ``points.json``: exactly the points drawn, per figure and model, by cell id;
- ``table.md`` (also returned): per architecture and model, the mean test accuracy
of shared and random init over the pairs of cells that differ only in init, and the relative
gain (the paper's Table 1), then every cell's numbers.

A point exists only for a cell whose fit finished and whose model finished: failed cells (and
failed models) are missing from the figures and read ``failed`` in the table, never zero. Files
are deterministic: fixed names, no dates in the SVG, a fixed ``svg.hashsalt``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ConfigError, require
from arena.study._sweep import read_index

INIT_COLOURS = {"shared": "#1f77b4", "random": "#ff7f0e"}
ARCH_MARKERS = {"siren": "o", "rffnet": "s", "mfn": "^"}
LABELS = {"psnr": "on-grid PSNR (dB)", "psnr_offgrid": "off-grid PSNR (dB)", "iou": "IoU",
          "iou_offgrid": "off-grid IoU", "nmi": "NMI (k-means vs labels)",
          "offgrid_ratio": "off-grid / on-grid quality"}
FORMATS = ("png", "svg")


@dataclasses.dataclass(frozen=True)
class PlotResult:
    """The files written, the table's Markdown, and the cell ids drawn per figure and model."""

    files: tuple[Path, ...]
    table: str
    points: Mapping[str, Mapping[str, tuple[str, ...]]]


def plot(sweep_dir: str | Path, *, out: str | Path | None = None) -> PlotResult:
    """Draw the figures and write the table of the sweep in ``sweep_dir`` (see the module docstring).

    Raises :class:`ConfigError` when ``sweep_dir`` is not a sweep, its index has a line that is not
    a cell record or no cell at all, or ``out`` is a file.
    """
    require("matplotlib", "study", "arena study plot")
    root = Path(sweep_dir)
    records = read_index(root)
    if not records:
        raise ConfigError(f"No cell of the sweep in {root} has finished yet: nothing to plot; run or resume the "
                          "sweep first.")
    figures = Path(out) if out is not None else root / "figures"
    if figures.exists() and not figures.is_dir():
        raise ConfigError(f"--out {figures} is a file; give a folder for the figures.")
    figures.mkdir(parents=True, exist_ok=True)
    models = _models(records)
    metrics = _quality_metrics(records)
    files: list[Path] = []
    points: dict[str, dict[str, tuple[str, ...]]] = {}
    ratio = ["offgrid_ratio"] if len(metrics) == 2 else []
    for metric in [*metrics, *ratio, "nmi"]:
        name = f"accuracy_vs_{metric}"
        drawn = _scatter(records, models, metric, figures / name)
        points[name] = drawn
        files += [figures / f"{name}.{f}" for f in FORMATS]
    if len({r["settings"]["steps"] for r in records}) > 1 and models and metrics:
        name = "accuracy_and_quality_vs_steps"
        points[name] = _steps(records, models[0], metrics[0], figures / name)
        files += [figures / f"{name}.{f}" for f in FORMATS]
    fmt.write_text_atomic(figures / "points.json", json.dumps(points, indent=2, sort_keys=True) + "\n")
    files.append(figures / "points.json")
    table = render_table(records, models, metrics)
    fmt.write_text_atomic(figures / "table.md", table)
    files.append(figures / "table.md")
    return PlotResult(files=tuple(files), table=table, points=points)


def value(record: Mapping[str, Any], model: str | None, metric: str) -> float | None:
    """A cell's number, or ``None`` when the cell (or the model) has not finished it.

    ``metric`` is ``"accuracy"`` (the model's mean test accuracy), ``"nmi"``, a fit metric of
    the train split (``"psnr"``, ``"psnr_offgrid"``, ``"iou"``, ...) or ``"offgrid_ratio"``
    (off-grid over on-grid PSNR, or IoU).
    """
    if metric == "accuracy":
        entry = record.get("models", {}).get(model)
        return entry["test_mean"] if entry is not None and entry.get("status") == "done" else None
    if metric == "nmi":
        return record["nmi"]["train"] if "nmi" in record else None
    if "fit" not in record:
        return None
    fit = record["fit"]["metrics"]["train"]
    if metric == "offgrid_ratio":
        on, off = (fit.get("psnr"), fit.get("psnr_offgrid")) if "psnr" in fit else (fit.get("iou"), fit.get("iou_offgrid"))
        return off / on if on and off is not None else None
    return fit.get(metric)


def render_table(records: Sequence[Mapping[str, Any]], models: Sequence[str], metrics: Sequence[str]) -> str:
    """The Markdown tables: shared vs random per architecture and model, then every cell."""
    lines = ["## Shared vs random initialisation", "",
             "Mean test accuracy (%) over the pairs of cells that differ only in init; gain = "
             "(shared - random) / random.", "",
             "| architecture | model | pairs | shared | random | relative gain |", "|---|---|---:|---:|---:|---:|"]
    for arch in _archs(records):
        for model in models:
            shared, random = _pairs(records, arch, model)
            if shared:
                s, r = sum(shared) / len(shared), sum(random) / len(random)
                gain = f"{100 * (s - r) / r:+.1f} %" if r > 0 else "n/a"
                lines.append(f"| {arch} | {model} | {len(shared)} | {100 * s:.1f} | {100 * r:.1f} | {gain} |")
            else:
                lines.append(f"| {arch} | {model} | 0 | — | — | — |")
    lines += ["", "## Every cell", "",
              "| cell | status | " + " | ".join([*metrics, "nmi", *models]) + " |",
              "|---|---|" + "---:|" * (len(metrics) + 1 + len(models))]
    for r in records:
        cells = [_fmt(value(r, None, m), r, 2) for m in [*metrics, "nmi"]]
        cells += [_accuracy_text(r, m) for m in models]
        status = r["status"] if r["status"] == "done" else f"failed ({r.get('failed_phase')})"
        lines.append(f"| {r['cell']} | {status} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _scatter(records, models: list[str], metric: str, stem: Path) -> dict[str, tuple[str, ...]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * max(1, len(models)), 3.6), layout="constrained")
    axes = fig.subplots(1, max(1, len(models)), squeeze=False)[0]
    drawn: dict[str, tuple[str, ...]] = {}
    for ax, model in zip(axes, models):
        ids = []
        for r in records:
            x, y = value(r, None, metric), value(r, model, "accuracy")
            if x is None or y is None:
                continue
            s = r["settings"]
            ax.scatter([x], [100 * y], color=INIT_COLOURS.get(s.get("init"), "#7f7f7f"),
                       marker=ARCH_MARKERS.get(s.get("arch"), "D"), s=36, edgecolors="black", linewidths=0.4)
            ids.append(r["cell"])
        drawn[model] = tuple(ids)
        ax.set_title(model)
        ax.set_xlabel(LABELS.get(metric, metric))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    _legend(fig, records)
    _save(fig, stem)
    return drawn


def _steps(records, model: str, metric: str, stem: Path) -> dict[str, tuple[str, ...]]:
    from matplotlib.figure import Figure

    archs = _archs(records)
    fig = Figure(figsize=(4.2 * len(archs), 6.0), layout="constrained")
    axes = fig.subplots(2, len(archs), squeeze=False)
    widths = sorted({r["settings"].get("hidden") for r in records if r["settings"].get("hidden") is not None})
    styles = dict(zip(widths, ["-", "--", ":", "-."] * 4))
    drawn = []
    for col, arch in enumerate(archs):
        for init in ("shared", "random"):
            for width in widths or [None]:
                rows = sorted((r for r in records if r["settings"]["arch"] == arch
                               and r["settings"].get("init") == init and r["settings"].get("hidden") == width),
                              key=lambda r: r["settings"]["steps"])
                for row, (what, scale) in enumerate((("accuracy", 100.0), (metric, 1.0))):
                    pts = [(r["settings"]["steps"], value(r, model, what), r["cell"]) for r in rows]
                    pts = [(x, y, c) for x, y, c in pts if y is not None]
                    if not pts:
                        continue
                    axes[row][col].plot([p[0] for p in pts], [scale * p[1] for p in pts], marker="o",
                                        color=INIT_COLOURS[init], linestyle=styles.get(width, "-"),
                                        label=f"{init}, width {width}")
                    if row == 0:
                        drawn += [p[2] for p in pts]
        axes[0][col].set_title(arch)
        axes[0][col].set_ylabel(f"{model} test accuracy (%)")
        axes[1][col].set_ylabel(LABELS.get(metric, metric))
        for row in (0, 1):
            axes[row][col].set_xlabel("fit steps")
            axes[row][col].set_xscale("log")
            axes[row][col].grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    _save(fig, stem)
    return {model: tuple(drawn)}


def _legend(fig, records) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], linestyle="", marker="o", color=c, label=f"{i} init") for i, c in INIT_COLOURS.items()]
    handles += [Line2D([], [], linestyle="", marker=m, color="#555555", label=a)
                for a, m in ARCH_MARKERS.items() if a in _archs(records)]
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")


def _save(fig, stem: Path) -> None:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "arena-study", "svg.fonttype": "path"}):
        for suffix, options in ((".png", {"dpi": 120, "metadata": {"Software": None}}),
                                (".svg", {"metadata": {"Date": None, "Creator": None}})):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=suffix[1:], **options)
            fmt.write_bytes_atomic(stem.with_suffix(suffix), buffer.getvalue())


def _pairs(records, arch: str, model: str) -> tuple[list[float], list[float]]:
    """Accuracies of the shared and random cells that match in every other setting, both finished."""
    by_key: dict[tuple, dict[str, float]] = {}
    for r in records:
        s = r["settings"]
        if s["arch"] != arch or s.get("init") not in ("shared", "random"):
            continue
        acc = value(r, model, "accuracy")
        if acc is None:
            continue
        key = (r["dataset"]["name"], tuple(sorted((k, json.dumps(v)) for k, v in s.items() if k != "init")))
        by_key.setdefault(key, {})[s["init"]] = acc
    matched = [v for v in by_key.values() if len(v) == 2]
    return [v["shared"] for v in matched], [v["random"] for v in matched]


def _models(records) -> list[str]:
    names: list[str] = []
    for r in records:
        for name in r.get("models", {}):
            if name not in names:
                names.append(name)
    return names


def _archs(records) -> list[str]:
    seen = [r["settings"]["arch"] for r in records]
    return [a for a in dict.fromkeys(seen)]


def _quality_metrics(records) -> list[str]:
    for r in records:
        if "fit" in r:
            keys = list(r["fit"]["metrics"]["train"])
            return [k for k in ("psnr", "psnr_offgrid", "iou", "iou_offgrid") if k in keys]
    return ["psnr", "psnr_offgrid"]


def _fmt(number: float | None, record, digits: int) -> str:
    if number is not None:
        return f"{number:.{digits}f}" if abs(number) < 1 else f"{number:.1f}"
    return "failed" if record["status"] == "failed" else "—"


def _accuracy_text(record, model: str) -> str:
    entry = record.get("models", {}).get(model)
    if entry is None:
        return "failed" if record["status"] == "failed" else "—"
    if entry.get("status") == "done":
        return f"{100 * entry['test_mean']:.1f}"
    return "failed" if entry.get("status") == "failed" else "—"
