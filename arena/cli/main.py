"""``arena``: the Neural Field Arena's main command."""

from __future__ import annotations

from typing import Annotated

import typer

from arena.cli._common import user_errors

app = typer.Typer(
    help="The Neural Field Arena: neural datasets, built fast and evaluated the same way.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """The Neural Field Arena: neural datasets, built fast and evaluated the same way."""


@app.command()
@user_errors
def demo(
    steps: Annotated[int, typer.Option(help="Optimisation steps per NeF.")] = 500,
    hidden: Annotated[int, typer.Option(help="SIREN hidden width.")] = 16,
    omega0: Annotated[float, typer.Option(help="SIREN frequency factor.")] = 9.0,
    limit: Annotated[int, typer.Option(help="Fit only the first N digits (0: all 1,797).")] = 0,
) -> None:
    """Fit one SIREN per scikit-learn digit (the embedded default) and report speed and quality."""
    from arena import demo as run_demo

    run_demo.digits(steps=steps, hidden=hidden, omega0=omega0, limit=limit)


def main() -> None:
    app()
