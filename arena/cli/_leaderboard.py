"""``arena leaderboard verify|render|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from arena.cli._common import err_console, user_errors
from arena.errors import ConfigError

app = typer.Typer(
    help="The leaderboard: check the submissions, write README.md and index.html, show the ranking, file external results.",
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

    stray = [option for option, value in (("--dataset", dataset), ("--device", device)) if value is not None]
    if stray and rerun is None:
        raise ConfigError(f"{stray[0]} only applies with --rerun SLUG (it picks what the rerun runs on); "
                          "add --rerun, or leave it out.")
    report = leaderboard.verify(directory)
    for problem in report.problems:
        err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
    unverified = [e.label for e in report.entries if not e.pinned]
    external = sum(e.external for e in report.entries)
    typer.echo(f"{len(report.entries)} submissions verify ({len(report.entries) - len(unverified)} on pinned "
               f"releases, {len(unverified)} on an unverified dataset{': ' + ', '.join(unverified) if unverified else ''}"
               f"{f'; {external} of external protocol, never ranked with v1' if external else ''}).")
    if rerun is not None:
        outcome = leaderboard.rerun(report.find(rerun), dataset=dataset, device=device)
        typer.echo(outcome.describe())


@app.command()
@user_errors
def add(
    result: Annotated[Path, typer.Argument(help="An external-protocol arena-result/1 file, as arena.eval.Evaluator.write_result writes it.")],
    name: Annotated[str, typer.Option(help="The method's name on the leaderboard; its slug names the folder.")],
    code_url: Annotated[Optional[str], typer.Option(help="Required: the http(s) URL of the code that trained the model (the method links to it).")] = None,
    authors: Annotated[Optional[list[str]], typer.Option(help="An author (repeat for several).")] = None,
    paper_url: Annotated[Optional[str], typer.Option(help="The paper's http(s) URL.")] = None,
    contact: Annotated[Optional[str], typer.Option(help="An e-mail address or handle.")] = None,
    note: Annotated[Optional[str], typer.Option(help="A free-text note shown on the page.")] = None,
    leaderboard: Annotated[Path, typer.Option(help="The leaderboard folder.")] = Path("leaderboard"),
    force: Annotated[bool, typer.Option("--force", help="Replace this method's submission on this dataset.")] = False,
) -> None:
    """File an external-protocol result (a model trained by your own loop, scored by arena.eval.Evaluator).

    Writes LEADERBOARD/submissions/<dataset>/<slug>/ with result.json and submission.json (no model file:
    nothing is rerun). It is shown in its own table, never ranked with protocol v1; protocol-v1 results
    are filed by arena-eval --submit.
    """
    from arena import leaderboard as board

    submission = board.Submission(name, tuple(authors or ()), code_url, paper_url, contact, note)
    folder = board.add(result, submission, root=leaderboard, force=force)
    typer.echo(f"filed {folder} (external protocol); `arena leaderboard render {leaderboard}` shows it")


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
