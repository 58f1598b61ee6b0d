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
from arena.cli._common import plain_warnings, user_errors

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
    coordinator: Annotated[Optional[str], typer.Option(metavar="HOST:PORT", help="Build on several processes or hosts (one per GPU) under jax.distributed: process 0's HOST:PORT, the same for all (or $ARENA_COORDINATOR).", rich_help_panel="Several processes")] = None,
    num_processes: Annotated[Optional[str], typer.Option("--num-processes", metavar="N", help="How many processes build together (or $ARENA_NUM_PROCESSES).", rich_help_panel="Several processes")] = None,
    process_id: Annotated[Optional[str], typer.Option("--process-id", metavar="I", help="This process's number, 0 to N-1 (or $ARENA_PROCESS_ID); process 0 writes the manifest.", rich_help_panel="Several processes")] = None,
) -> None:
    """Build a neural dataset: fit one NeF per source example, write shards, manifest and card.

    A killed build resumes from its complete shards when rerun with the same arguments. On CPU
    it fits with one single-threaded XLA device per core (ARENA_XLA_FLAGS=0 keeps your own
    XLA and JAX settings). With --coordinator, --num-processes and --process-id, N processes
    (started alike, e.g. by srun) each fit whole shards into one shared --out; the output is the
    same bytes.
    """
    from arena import _xla

    _xla.apply_for_command()  # before anything uses JAX
    from arena_builders import parse_assignments, print_build_summary, recipe
    from arena_builders._build import check_out, make
    from arena_builders._distributed import initialize, launch_settings, stop_others

    launch = launch_settings(coordinator, num_processes, process_id)
    if push is not None:
        from arena import hub

        hub.check_target(push)  # a malformed target fails now, not after the build
    if source is not None and not source.startswith("hf://"):
        source = Path(source).expanduser()
    chosen, overrides = recipe(name), parse_assignments(set_ or [])
    chosen.with_overrides(overrides)  # bad settings refused before any source is read or file written
    if out is not None:
        check_out(out)  # and an --out holding files a build did not write
    if launch is not None:
        initialize(launch)  # before anything uses JAX; never at import
    try:
        built = make(chosen, source_path=source, out=out, limit=limit,
                     overrides=overrides, progress=not quiet, download=download)
    except BaseException as exc:
        if launch is not None:
            stop_others(exc)  # the others stop too, with one line naming this process
        raise
    path = built.path
    if launch is not None and not launch.leads:
        Console(soft_wrap=True).print(f"process {launch.process_id} of {launch.num_processes}: its shards "
                                      f"are in {path}; process 0 reports the build", highlight=False)
        return
    if built.fresh:
        print_build_summary(Console(), built)
        Console(soft_wrap=True).print(f"[green]built[/] {path}", highlight=False)
    else:
        Console(soft_wrap=True).print(built.already_built(), highlight=False)
    if push is not None:
        pushed = hub.push(path, push)
        Console(soft_wrap=True).print(f"[green]pushed[/] {path} -> {push} ({pushed})", highlight=False)


def main() -> None:
    plain_warnings()
    app()
