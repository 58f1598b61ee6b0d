"""The table that ends a build: ``arena-build`` and ``arena demo`` print the same one."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

_SCORES = {  # a fit metric and its off-grid twin: how the summary names and formats them
    "psnr": ("PSNR", "pixels", "{:.2f}", " dB"),
    "iou": ("IoU", "held-out points", "{:.3f}", ""),
}


def print_build_summary(console: Console, built) -> None:
    """The table that ends a build (``arena-build``, ``arena demo``): the NeFs per split, the
    field, the fit, the wall time, and per split the mean score on and off the grid (PSNR for
    images, IoU for shapes; other metrics as they are named).

    Args:
        built: an :class:`arena_builders._build.Built` (path, manifest, fresh, seconds).
    """
    manifest = built.manifest
    fit = manifest.fit
    table = Table(title=f"{manifest.name} {manifest.version}  ({built.path})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    order = ["train", "val", "test"]
    splits = sorted(manifest.splits, key=lambda s: (order.index(s) if s in order else len(order), s))
    total = sum(manifest.num_examples(s) for s in splits)
    table.add_row("NeFs", f"{total:,} (" + ", ".join(f"{s} {manifest.num_examples(s):,}" for s in splits) + ")")
    hparams = ", ".join(f"{k} {v}" for k, v in manifest.hparams.items())
    table.add_row("field", f"{manifest.arch} {hparams}: {manifest.num_params:,} params")
    table.add_row("fit", f"{fit['optimizer']} lr {fit['lr']:g}, {fit['steps']} steps")
    table.add_row("build wall time (compile included)",
                  f"{built.seconds:.1f} s" if built.fresh else "already built: nothing done")
    for split in splits:
        scores = manifest.metrics.get(split, {})
        for key, (label, where, spec, unit) in _SCORES.items():
            if key in scores:
                on, off = scores.pop(key), scores.pop(f"{key}_offgrid", None)
                value = spec.format(on) + ("" if off is None else " / " + spec.format(off)) + unit
                table.add_row(f"{label} {split} ({where}" + ("" if off is None else " / off-grid") + ")", value)
        for key, value in scores.items():
            table.add_row(f"{key} {split}", f"{value:.4g}")
    console.print(table)
