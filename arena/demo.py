"""The embedded default job: fit a neural dataset of scikit-learn's digits on this machine."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from arena.errors import ConfigError, require


def digits(*, steps: int = 500, hidden: int = 16, omega0: float = 9.0, limit: int = 0) -> dict:
    """Fit a SIREN to each of the 1,797 bundled digits; print and return throughput and PSNR."""
    require("sklearn", "build", "The digits demo")
    from sklearn.datasets import load_digits

    from arena import fields, fit

    if limit < 0:
        raise ConfigError(f"--limit must be >= 0; got {limit}.")
    images = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    if limit:
        images = images[:limit]
    field = fields.Siren(hidden=hidden, layers=3, omega0=omega0)
    result = fit.fit_images(field, images, steps=steps, lr=1e-3, init="shared", seed=0)
    summary = {
        "nefs": len(images),
        "params_per_nef": result.layout.num_params,
        "steps": steps,
        "seconds": result.seconds,
        "nefs_per_s": len(images) / result.seconds,
        "nef_steps_per_s": result.nef_steps_per_s,
        "psnr": float(result.metrics["psnr"].mean()),
        "psnr_offgrid": float(result.metrics["psnr_offgrid"].mean()),
    }
    table = Table(title=f"Neural digits: SIREN 2-{hidden}-{hidden}-1 (omega0 {omega0:g}), {steps} steps")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("NeFs fit", f"{summary['nefs']:,} x {summary['params_per_nef']:,} params")
    table.add_row("wall time (compile included)", f"{summary['seconds']:.1f} s")
    table.add_row("throughput", f"{summary['nefs_per_s']:,.0f} NeFs/s = {summary['nef_steps_per_s']:,.0f} NeF-steps/s")
    table.add_row("PSNR on the pixels (mean)", f"{summary['psnr']:.2f} dB")
    table.add_row("PSNR off-grid (mean)", f"{summary['psnr_offgrid']:.2f} dB")
    Console().print(table)
    return summary
