"""``arena``: the Neural Field Arena's main command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from arena.cli import _help, _hub, _leaderboard, _study
from arena.cli._common import plain_warnings, user_errors

app = typer.Typer(
    help="The Neural Field Arena: neural datasets, built fast and evaluated the same way.",
    no_args_is_help=True,
    add_completion=False,
    cls=_help.Group,
    context_settings=_help.CONTEXT,
)


def _print_version(value: bool) -> None:
    if value:
        from arena import __version__

        typer.echo(f"neural-field-arena {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """The Neural Field Arena: neural datasets, built fast and evaluated the same way."""


@app.command()
@user_errors
def demo(
    model: Annotated[str, typer.Option(help="Model to evaluate: baseline:NAME or a model file.")] = "baseline:mlp",
    seeds: Annotated[int, typer.Option(help="Evaluation seeds.")] = 3,
) -> None:
    """The embedded default, end to end: build neural_digits, evaluate a baseline, print the result.

    Needs no download: scikit-learn ships the 1,797 digits. A second run reuses the build.
    """
    from arena import _xla

    _xla.apply_for_command()  # before anything uses JAX: every CPU core (not with ARENA_XLA_FLAGS=0)
    from arena import demo as run_demo
    from arena.eval import _memory

    _memory.apply_for_command()  # freed memory kept for reuse (not with ARENA_MALLOC=0)

    run_demo.run(model=model, seeds=seeds)


@app.command(cls=_help.Command)
@user_errors
def plot(
    results: Annotated[list[Path], typer.Argument(help="arena-result/1 JSON files written by arena-eval.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The figure to write: .png, .svg or .pdf.")] = Path("curves.png"),
) -> None:
    """Learning curves: val accuracy and train loss per epoch, one line per result, band over seeds."""
    from arena.eval import curves

    typer.echo(f"wrote {curves.plot(results, out)}")


_hub.register(app)  # list, info, download, push, verify
_leaderboard.register(app)  # leaderboard verify, render, show
_study.register(app)  # study sweep, search, plot


@app.command(context_settings={"ignore_unknown_options": True})  # INDEX -1 is an index, not an option
@user_errors
def show(
    name: Annotated[str, typer.Argument(help="Dataset: a name, a directory or a URL.")],
    index: Annotated[int, typer.Argument(help="Which NeF of the split (0-based).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="PNG to write (default: NAME-SPLIT-INDEX.png).")] = None,
    split: Annotated[str, typer.Option(help="Split to take the NeF from.")] = "test",
    source: Annotated[Optional[Path], typer.Option(help="Raw source files, to show the original next to the NeF (digits needs none).")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Images: also draw the NeF this many times finer than the pixels (default 4). Shapes: the side of the grid sampled (default 64).")] = None,
    mesh: Annotated[Optional[Path], typer.Option(help="Shapes: also write the NeF's surface (marching cubes) to this OBJ file.")] = None,
) -> None:
    """Render one NeF next to its source signal and write a labelled PNG (images also between the pixels)."""
    from arena.cli._data import show as run

    path, lines = run(name, index, split=split, out=output, source_path=source, resolution=resolution,
                      mesh_out=mesh)
    for line in lines:
        typer.echo(line)
    typer.echo(f"wrote {path}")


@app.command("import-hdf5")
@user_errors
def import_hdf5(
    path: Annotated[Path, typer.Argument(help="A fit-a-nef folder of .hdf5 files (with nef.json, cfg.json), or one file.")],
    out: Annotated[Optional[Path], typer.Option(help="Dataset directory to write (default: the local store).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Dataset name (default: from cfg.json or the folder); the version is 1.0.0+import.<hash>, never an official release's.")] = None,
    split: Annotated[Optional[list[str]], typer.Option(help="NAME=START:END rows of a split (repeatable; default: known presets or all in train).")] = None,
    hparam: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE for nef.json's params, e.g. omega_0=30 (repeatable).")] = None,
) -> None:
    """Convert a fit-a-nef / first Neural Field Arena HDF5 neural dataset into the Arena format."""
    from arena.cli._data import parse_hparams, parse_splits
    from arena.interop import import_hdf5 as run

    written = run(path, out, name=name, splits=parse_splits(split or []), hparams=parse_hparams(hparam or []))
    typer.echo(f"imported {written}")


@app.command()
@user_errors
def subset(
    name: Annotated[str, typer.Argument(help="Dataset: a name, a directory or a URL.")],
    train: Annotated[Optional[int], typer.Option(help="Train NeFs to keep (default: all).")] = None,
    val: Annotated[Optional[int], typer.Option(help="Val NeFs to keep (default: all).")] = None,
    test: Annotated[Optional[int], typer.Option(help="Test NeFs to keep (default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Dataset directory to write (default: the local store, NAME_subset/VERSION).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it holds a NAME_subset dataset and nothing else (no other directory is ever replaced).")] = False,
) -> None:
    """Write a seeded sample of a dataset's splits as a dataset of its own, NAME_subset."""
    from arena import format as fmt
    from arena.subset import ordered_splits
    from arena.subset import subset as run

    sizes = {k: v for k, v in {"train": train, "val": val, "test": test}.items() if v is not None}
    written = run(name, sizes, seed=seed, out=out, force=force)
    m = fmt.open_dataset(written).manifest
    counts = ", ".join(f"{s} {m.num_examples(s)}" for s in ordered_splits(m))
    typer.echo(f"wrote {m.name} {m.version} ({counts}) to {written}")
    typer.echo(f"evaluate on it with: arena-eval MODEL --dataset {m.name if out is None else written}")


@app.command()
@user_errors
def export(
    name: Annotated[str, typer.Argument(help="Dataset: a name, a directory or a URL.")],
    out: Annotated[Path, typer.Option(help="Directory to write: new or empty (or an earlier export, with --force).")],
    format: Annotated[str, typer.Option(help="What to write: parquet (Hugging Face datasets and the Hub's viewer read it).")] = "parquet",
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it holds an earlier export and nothing else.")] = False,
) -> None:
    """Write a dataset as Parquet shards with a card, for datasets.load_dataset and the Hub.

    OUT gets data/{split}-NNNNN-of-NNNNN.parquet (params, label, index, metrics), README.md with
    configs/data_files front matter, and arena.json. Needs the hf extra.
    """
    from arena.export import export as run

    written = run(name, out, format=format, force=force)
    typer.echo(f"exported {name} to {written}")
    typer.echo(f'load it with: datasets.load_dataset("{written}")')


def main() -> None:
    plain_warnings()
    app()
