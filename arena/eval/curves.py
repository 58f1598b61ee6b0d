"""Learning curves from ``arena-result/1`` documents: ``arena plot RESULT.json ... -o curves.png``.

One figure, two panels: validation accuracy and mean training loss per epoch, one line per
document (labelled with its model, and its dataset when the documents span several), the mean over
seeds with a band from the lowest to the highest seed. The per-epoch numbers come from each seed's
``history`` (recorded by ``arena-eval`` since the field exists); a document without it is refused
by name, never drawn as an empty line. Needs matplotlib (``pip install 'neural-field-arena[plot]'``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from arena import format as fmt
from arena.errors import ConfigError, require

FORMATS = (".png", ".svg", ".pdf")


def read(path: str | Path) -> dict[str, Any]:
    """A validated result document that has a per-epoch history for every seed."""
    from arena.eval import result

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"No result file at {path}; arena-eval prints where it wrote one.")
    document = result.read_json(path, error=ConfigError)
    try:
        result.validate(document)
    except Exception as exc:  # noqa: BLE001 - schema errors are many types; say which file
        raise ConfigError(f"{path} is not an arena-result/1 document: {str(exc).splitlines()[0]}") from None
    if any("history" not in run for run in document["seeds"]):
        raise ConfigError(f"{path} has no per-epoch history (it predates it); run arena-eval again to draw "
                          "its curves.")
    return document


def curves(document: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-epoch arrays of shape (seeds, epochs): ``epoch``, ``val_accuracy``, ``train_loss``."""
    runs = document["seeds"]
    epochs = min(len(run["history"]) for run in runs)
    out = {key: np.array([[h[key] for h in run["history"][:epochs]] for run in runs], dtype=float)
           for key in ("val_accuracy", "train_loss")}
    out["epoch"] = np.arange(1, epochs + 1)
    return out


def plot(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Draw the curves of the result files ``paths`` into ``out`` (.png, .svg or .pdf)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"-o {out}: give a file name ending in {', '.join(FORMATS)}.")
    if not paths:
        raise ConfigError("Give at least one result file (arena-eval writes them).")
    documents = [read(p) for p in paths]
    require("matplotlib", "plot", "arena plot")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    datasets = {d["dataset"]["name"] for d in documents}
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for document in documents:
        label = document["model"]["name"]
        if len(datasets) > 1:
            label += f" on {document['dataset']['name']}"
        label += f" ({len(document['seeds'])} seeds)"
        c = curves(document)
        line = None
        for ax, key, scale in ((acc_ax, "val_accuracy", 100.0), (loss_ax, "train_loss", 1.0)):
            values = c[key] * scale
            (line,) = ax.plot(c["epoch"], values.mean(axis=0), label=label,
                              color=None if line is None else line.get_color())
            if len(values) > 1:
                ax.fill_between(c["epoch"], values.min(axis=0), values.max(axis=0), alpha=0.2,
                                color=line.get_color(), linewidth=0)
    acc_ax.set(xlabel="epoch", ylabel="val accuracy (%)", title="Validation accuracy")
    loss_ax.set(xlabel="epoch", ylabel="train loss (cross-entropy)", title="Training loss", yscale="log")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(loc="lower right", fontsize="small")
    fig.suptitle(f"{', '.join(sorted(datasets))}: mean over seeds, band from the lowest to the highest seed",
                 fontsize="medium")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format=out.suffix.lower()[1:], dpi=120, metadata=_metadata(out.suffix.lower()))
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt.write_bytes_atomic(out, buffer.getvalue())
    return out


def _metadata(suffix: str) -> dict[str, Any]:
    """No software version or date in the file, so that a plot of unchanged results is unchanged."""
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    if suffix == ".pdf":
        return {"CreationDate": None, "Producer": None, "Creator": None}
    return {"Software": None}
