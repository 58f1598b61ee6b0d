"""``arena-build``: build a neural dataset with its builder's published settings.

A build ends with :func:`arena_builders.print_build_summary`'s table, the one ``arena demo`` prints too; a
dataset that is already built is reported in one line and left as it is.
"""

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
def build(
    name: Annotated[str, typer.Argument(help="Dataset to build: digits, mnist, cifar10, microimagenet, shapenet, modelnet10.")],
    source: Annotated[Optional[str], typer.Option(help="Where the raw source files are (default: $ARENA_SOURCE_DIR/<source>); mnist also takes hf://datasets/ylecun/mnist.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: the local store, $ARENA_HOME).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Build only the first N examples of each split.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting, key=value (repeatable); changes the version.")] = None,
    download: Annotated[bool, typer.Option("--download", help="Fetch the official source files when not on disk (mnist, cifar10).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    push: Annotated[Optional[str], typer.Option(help="Then publish it: a Hugging Face dataset repo OWNER/NAME or an fsspec URL (see `arena push`).")] = None,
) -> None:
    """Build a neural dataset: fit one NeF per source example, write shards, manifest and card.

    A killed build resumes from its complete shards when rerun with the same arguments. On CPU
    it fits with one single-threaded XLA device per core (``ARENA_XLA_FLAGS=0`` keeps your own
    XLA and JAX settings).
    """
    from arena import _xla

    _xla.apply_for_command()  # before anything uses JAX
    from arena_builders import parse_assignments, print_build_summary, recipe
    from arena_builders._build import make

    if push is not None:
        from arena import hub

        hub.check_target(push)  # a malformed target fails now, not after the build
    if source is not None and not source.startswith("hf://"):
        source = Path(source).expanduser()
    built = make(recipe(name), source_path=source, out=out, limit=limit,
                 overrides=parse_assignments(set_ or []), progress=not quiet, download=download)
    path = built.path
    if built.fresh:
        print_build_summary(Console(), built)
        Console().print(f"[green]built[/] {path}", highlight=False)
    else:
        Console(soft_wrap=True).print(built.already_built(), highlight=False)
    if push is not None:
        pushed = hub.push(path, push)
        Console().print(f"[green]pushed[/] {path} -> {push} ({pushed})", highlight=False)


def main() -> None:
    app()
