"""``arena-eval``: evaluation protocol v1 on a neural dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from arena.cli import _help
from arena.cli._common import user_errors

app = typer.Typer(add_completion=False, context_settings=_help.CONTEXT)


@app.command(cls=_help.Command)
@user_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="A model file (MODEL.py defining build_model(spec)) or baseline:NAME (mlp, gnn, dws, transformer).")],
    dataset: Annotated[str, typer.Option(help="Neural dataset: a name (neural_digits), a path or a URL.")] = "neural_digits",
    seeds: Annotated[int, typer.Option(help="Run seeds 0..S-1.")] = 3,
    epochs: Annotated[Optional[int], typer.Option(help="Override the model file's epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the model file's batch size.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Override the model file's learning rate.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Override the model file's weight decay.")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's choice; 1 is best on a busy shared CPU).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the arena-result/1 JSON (default: results/<dataset>/<model>.json).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    submit: Annotated[bool, typer.Option(help="Also file the result on the leaderboard, in LEADERBOARD/submissions/<dataset>/<slug>/ (needs --name and at least 3 seeds; checked before training).")] = False,
    name: Annotated[Optional[str], typer.Option(help="With --submit: the method's name on the leaderboard; its slug names the folder.")] = None,
    authors: Annotated[Optional[list[str]], typer.Option(help="With --submit: an author (repeat for several).")] = None,
    code_url: Annotated[Optional[str], typer.Option(help="With --submit: the code's http(s) URL (the method links to it).")] = None,
    paper_url: Annotated[Optional[str], typer.Option(help="With --submit: the paper's http(s) URL.")] = None,
    contact: Annotated[Optional[str], typer.Option(help="With --submit: an e-mail address or handle.")] = None,
    note: Annotated[Optional[str], typer.Option(help="With --submit: a free-text note shown on the page.")] = None,
    leaderboard: Annotated[Path, typer.Option(help="With --submit: the leaderboard folder.")] = Path("leaderboard"),
    force: Annotated[bool, typer.Option(help="With --submit: replace this method's submission on this dataset.")] = False,
) -> None:
    """Train on train, select on val, report test: protocol v1, one arena-result/1 document.

    Nothing is written unless the whole run succeeds.
    """
    from arena.eval import evaluate as run
    from arena.eval import result
    from arena.leaderboard import from_options

    if out is not None:
        result.check_target(out)
    pending = from_options(model, submit=submit, name=name, authors=authors, code_url=code_url,
                           paper_url=paper_url, contact=contact, note=note, seeds=seeds,
                           dataset=dataset, root=leaderboard, force=force)
    document = run(model, dataset, seeds=seeds, epochs=epochs, batch_size=batch_size, lr=lr,
                   weight_decay=weight_decay, device=device, threads=threads, progress=not quiet)
    path = out or result.default_path("results", document)
    result.write(document, path)
    print_summary(document, path)
    if pending is not None:
        typer.echo(f"submission: {pending.write(document)}")


def print_summary(document: dict, path: Path | None = None) -> None:
    """One line per seed and the summary, as people quote them."""
    console = Console()
    d, s = document["dataset"], document["summary"]
    console.print(f"[bold]{document['model']['name']}[/] on {d['name']} {d['version']} "
                  f"({document['model']['num_parameters']:,} parameters, protocol v{document['protocol']['version']})")
    for run in document["seeds"]:
        console.print(f"  seed {run['seed']}: test {100 * run['test_accuracy']:.2f}%  "
                      f"val {100 * run['val_accuracy']:.2f}%  best epoch {run['best_epoch']}  "
                      f"{run['train_seconds']:.1f} s ({run['epoch_seconds']:.2f} s/epoch)")
    std = "n/a" if s["test_std"] is None else f"{100 * s['test_std']:.2f}"
    console.print(f"[bold green]test accuracy {100 * s['test_mean']:.2f} ± {std} %[/] "
                  f"(mean ± sample std over {s['num_seeds']} seeds; val {100 * s['val_mean']:.2f}%)")
    if path is not None:
        console.print(f"result: {path}")


def main() -> None:
    app()
