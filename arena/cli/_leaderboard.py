"""``arena leaderboard verify|render|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from arena.cli._common import err_console, user_errors

app = typer.Typer(
    help="The leaderboard: check the submissions, write README.md and index.html, show the ranking.",
    no_args_is_help=True,
    add_completion=False,
)

Folder = Annotated[Path, typer.Argument(help="The leaderboard folder (holds submissions/).")]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="leaderboard")


@app.command()
@user_errors
def verify(
    directory: Folder = Path("leaderboard"),
    rerun: Annotated[Optional[str], typer.Option(help="Also RUN this submission's model.py again (SLUG or DATASET/SLUG) and compare per-seed val/test accuracies: equal when the device type and torch/numpy versions are the result's, else within 0.01 absolute. This executes submitted code.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="With --rerun: the dataset to run on (default: the recorded name and version from the local store); its manifest sha256 must be the recorded one.")] = None,
    device: Annotated[Optional[str], typer.Option(help="With --rerun: cpu or cuda (default: the recorded device type).")] = None,
) -> None:
    """Check every submission without executing any of its code; list every failure, exit 1 if any.

    Schemas, summary vs per-seed numbers, model.py's sha256, protocol, >= 3 seeds, one entry per method.

    A dataset that is no pinned release (name, version, manifest sha256) is listed "unverified dataset", unranked.
    """
    from arena import leaderboard

    report = leaderboard.verify(directory)
    for problem in report.problems:
        err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
    unverified = [e.label for e in report.entries if not e.pinned]
    typer.echo(f"{len(report.entries)} submissions verify ({len(report.entries) - len(unverified)} on pinned "
               f"releases, {len(unverified)} on an unverified dataset{': ' + ', '.join(unverified) if unverified else ''}).")
    if rerun is not None:
        outcome = leaderboard.rerun(report.find(rerun), dataset=dataset, device=device)
        typer.echo(outcome.describe())


@app.command()
@user_errors
def render(directory: Folder = Path("leaderboard")) -> None:
    """Write README.md and index.html from the submissions (byte-identical for an unchanged folder).

    A folder that does not verify renders nothing.
    """
    from arena import leaderboard

    for path in leaderboard.render(directory):
        typer.echo(f"wrote {path}")


@app.command()
@user_errors
def show(
    directory: Folder = Path("leaderboard"),
    dataset: Annotated[Optional[str], typer.Option(help="Only this dataset's table.")] = None,
) -> None:
    """Print the ranking, one table per dataset, best first."""
    from arena import leaderboard

    leaderboard.show(directory, dataset=dataset, console=Console())
