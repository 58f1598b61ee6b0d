"""``arena study sweep|search|plot``: the representation study's tools (docs/design.md, section 8)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from arena.cli._common import err_console, user_errors

study = typer.Typer(help="Sweeps, searches and plots of the representation study (docs/design.md, section 8).",
                    no_args_is_help=True, add_completion=False)

ConfigArg = Annotated[Optional[Path], typer.Argument(help="A TOML configuration (see arena.study.config); flags override it.")]
DatasetOpt = Annotated[Optional[str], typer.Option("--dataset", help="Builder recipe of the dataset (digits, mnist, ...); replaces the configuration's datasets.")]
SourceOpt = Annotated[Optional[str], typer.Option(help="Where the raw source files are (replaces every dataset's source).")]
SizeOpt = Annotated[Optional[int], typer.Option(help="NeFs of this split per cell (give train, val and test).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="A fixed setting of every cell, key=value (repeatable).")]
ModelOpt = Annotated[Optional[list[str]], typer.Option("--model", help="A downstream model, baseline:NAME or a file (repeatable; replaces the configuration's).")]
EpochsOpt = Annotated[Optional[int], typer.Option(help="Epochs of every model (overrides its HPARAMS).")]
SeedsOpt = Annotated[Optional[int], typer.Option(help="Evaluation seeds of every model.")]
DeviceOpt = Annotated[str, typer.Option(help="Where models train: cpu or cuda (the fit uses JAX's default device).")]
ThreadsOpt = Annotated[Optional[int], typer.Option(help="torch CPU threads for the evaluations (1 is best on a busy shared CPU).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bar (one line per cell still).")]


@study.command("sweep")
@user_errors
def sweep_command(
    config: ConfigArg = None,
    out: Annotated[Optional[Path], typer.Option(help="The sweep directory (default: sweeps/<config name>).")] = None,
    dataset: DatasetOpt = None,
    source: SourceOpt = None,
    train: SizeOpt = None,
    val: SizeOpt = None,
    test: SizeOpt = None,
    grid: Annotated[Optional[list[str]], typer.Option("--grid", help="A grid axis, key=v1,v2,... (repeatable; replaces that axis).")] = None,
    set_: SetOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seeds: SeedsOpt = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the cells that failed in an earlier run (done cells are always skipped).")] = False,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Fit, measure and evaluate every cell of a grid; a rerun resumes where the last one stopped.

    Each cell builds a neural dataset with the recipe's builder (overrides recorded in its
    manifest), records PSNR on and off grid (IoU for shapes) and the train split's NMI, and
    evaluates the models with protocol v1. Everything lands in OUT: cells/<cell>/ (dataset,
    results, cell.json) and cells.jsonl. A failed cell (a diverged fit, a failing model) is
    recorded with its reason and the sweep goes on.
    """
    from arena import _xla

    _xla.apply_for_command()  # before anything uses JAX
    from arena.study import _sweep
    from arena.study.config import check_cells

    cfg = _config(config, dataset=dataset, source=source, sizes=(train, val, test), grid=grid, set_=set_,
                  model=model, epochs=epochs, seeds=seeds)
    root = out or Path("sweeps") / (config.stem if config is not None else "sweep")
    cells = cfg.cells()
    check_cells(cells, cfg.models)  # before the view weighs the cells: a bad cell is one line
    view = _SweepView(cells, enabled=not quiet)
    with view:
        summary = _sweep.sweep(cfg, root, options=_sweep.options_for(cfg, device=device, threads=threads),
                               retry_failed=retry_failed, report=view.report)
    Console().print(f"sweep {summary.root}: {summary.done} done, {summary.failed} failed, {summary.skipped} "
                    f"finished earlier, of {summary.total} cells; plot it with: arena study plot {summary.root}",
                    highlight=False, soft_wrap=True)


@study.command("search")
@user_errors
def search_command(
    config: ConfigArg = None,
    out: Annotated[Optional[Path], typer.Option(help="The search directory: trials and the default SQLite file (default: sweeps/<config name>-search).")] = None,
    trials: Annotated[int, typer.Option(help="Trials this process runs (each worker runs its own).")] = 10,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage URL (default: sqlite:///OUT/study.db); any database URL Optuna accepts.")] = None,
    study_name: Annotated[str, typer.Option(help="The study to create or join.")] = "study",
    param: Annotated[Optional[list[str]], typer.Option("--param", help="A searched setting: NAME=LOW:HIGH, NAME=LOW:HIGH:log or NAME=A,B,C (repeatable; replaces \\[search.space]).")] = None,
    objective: Annotated[Optional[str], typer.Option(help="The model (its name) whose val accuracy is maximised (default: the first).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="The TPE sampler's seed (default: \\[search] seed, else 0).")] = None,
    dataset: DatasetOpt = None,
    source: SourceOpt = None,
    train: SizeOpt = None,
    val: SizeOpt = None,
    test: SizeOpt = None,
    set_: SetOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seeds: SeedsOpt = None,
    device: DeviceOpt = "cpu",
    threads: ThreadsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Search fit settings with Optuna's TPE, maximising a model's val accuracy.

    The study lives in Optuna's RDB storage; run the same command in several processes (or on
    several machines sharing the database and OUT) to search in parallel.
    """
    from arena import _xla

    _xla.apply_for_command()
    from arena.study import _search, _sweep

    cfg = _config(config, dataset=dataset, source=source, sizes=(train, val, test), grid=None, set_=set_,
                  model=model, epochs=epochs, seeds=seeds, param=param, objective=objective, seed=seed)
    root = out or Path("sweeps") / f"{config.stem if config is not None else 'study'}-search"
    console = Console(soft_wrap=True)

    def report(event: str, number: int, details: dict) -> None:
        if event == "start" and not quiet:
            console.print(f"trial {number}: started", highlight=False, soft_wrap=True)
        elif event == "done":
            model_entry = details["record"]["models"][cfg.objective or cfg.models[0].name]
            console.print(f"trial {number}: val {100 * model_entry['val_mean']:.2f}% "
                          f"(test {100 * model_entry['test_mean']:.2f}%) with {details['params']}", highlight=False,
                          soft_wrap=True)
        elif event == "failed":
            err_console.print(f"[red]trial {number} failed:[/] {escape(details['record']['reason'])}",
                              highlight=False, soft_wrap=True)

    summary = _search.search(cfg, root, trials=trials, storage=storage, study_name=study_name,
                             options=_sweep.options_for(cfg, device=device, threads=threads), report=report)
    best = ("no trial has completed" if summary.best_value is None else
            f"best: trial {summary.best_trial}, val {100 * summary.best_value:.2f}% with {summary.best_params}")
    console.print(f"study '{summary.study_name}' in {summary.storage}: {summary.trials_in_study} trials "
                  f"({summary.done} done and {summary.failed} failed here); {best}", highlight=False, soft_wrap=True)


@study.command("plot")
@user_errors
def plot_command(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory (holding cells.jsonl).")],
    out: Annotated[Optional[Path], typer.Option(help="Where the figures go (default: SWEEP_DIR/figures).")] = None,
) -> None:
    """Accuracy against PSNR on and off grid and NMI, and the shared-vs-random table (PNG, SVG, Markdown).

    Failed cells are missing from the figures and read 'failed' in the table, never zero.
    """
    from arena.study import _plot

    result = _plot.plot(sweep_dir, out=out)
    typer.echo(result.table, nl=False)
    for path in result.files:
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``study`` (sweep, search, plot) to ``app``."""
    app.add_typer(study, name="study")


def _config(path: Path | None, *, dataset, source, sizes, grid, set_, model, epochs, seeds, param=None,
            objective=None, seed=None):
    """The configuration file (if any) with the flags applied on top, parsed and checked."""
    from arena.errors import ConfigError
    from arena.study import config as cfg

    data: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        data = dict(cfg.load_toml(path))
        base = path.parent
    if dataset is not None:
        data["dataset"] = {"recipe": dataset}
    if any(s is not None for s in sizes):
        tables = data.get("dataset")
        if tables is None:
            raise ConfigError("--train/--val/--test size a dataset: give --dataset NAME or a configuration.")
        tables = [tables] if isinstance(tables, dict) else tables
        data["dataset"] = [{**t, **{k: v for k, v in zip(cfg.SPLITS, sizes) if v is not None}} for t in tables]
    if grid:
        axes = dict(_axis(item) for item in grid)
        tables = data.get("grid", {})
        data["grid"] = ([{**t, **axes} for t in tables] if isinstance(tables, list)
                        else {**tables, **axes})
    if set_:
        from arena_builders import parse_assignments

        data["settings"] = {**data.get("settings", {}), **{k: _scalar(v) for k, v in parse_assignments(set_).items()}}
    if model:
        data["models"] = [{"ref": m} for m in model]
    elif path is None:
        data["models"] = [{"ref": "baseline:mlp"}]
    if epochs is not None or seeds is not None:
        extra = {k: v for k, v in (("epochs", epochs), ("seeds", seeds)) if v is not None}
        data["models"] = [{**m, **extra} for m in data.get("models", [])]
    search = dict(data.get("search", {}))
    space = None
    if param:  # checked here, so that a message names the flag, not the file's [search.space]
        search.pop("space", None)
        space = tuple(cfg.param(*_param(item), f"--param {item}") for item in param)
    if objective is not None:
        search["objective"] = objective
    if seed is not None:
        search["seed"] = seed
    data["search"] = search
    return cfg.parse(data, base=base, where=str(path) if path is not None else "the flags", source=source,
                     space=space)


def _axis(item: str) -> tuple[str, list]:
    from arena.errors import ConfigError

    key, sep, values = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--grid takes key=v1,v2,...; got '{item}'.")
    return key.strip(), [_scalar(v) for v in values.split(",") if v.strip()]


def _param(item: str) -> tuple[str, dict]:
    from arena.errors import ConfigError

    key, sep, spec = item.partition("=")
    if not sep or not key.strip() or not spec.strip():
        raise ConfigError(f"--param takes NAME=LOW:HIGH[:log] or NAME=A,B,C; got '{item}'.")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise ConfigError(f"--param {item}: a range is LOW:HIGH or LOW:HIGH:log.")
        low, high = _scalar(parts[0]), _scalar(parts[1])
        return key.strip(), {"low": low, "high": high, "log": len(parts) == 3}
    return key.strip(), {"choices": [_scalar(v) for v in spec.split(",")]}


def _scalar(text: str) -> Any:
    """``"16"`` -> 16, ``"1e-3"`` -> 0.001, ``"true"`` -> True, anything else the string."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        return number if not (isinstance(number, float) and not math.isfinite(number)) else text
    return text


class _SweepView:
    """One line per cell (skipped, done, failed), and a live bar: cells done/total, the phase, an ETA."""

    def __init__(self, cells, *, enabled: bool):
        from arena.study._sweep import Timer

        self.timer = Timer(cells)
        self.ids = {c.id: i for i, c in enumerate(cells)}
        self.console = Console()
        self.enabled = enabled and self.console.is_terminal
        self._bar = None
        self._task = None
        self._phase = ""

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[eta]}"), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("", total=self.timer.total, eta="")
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()

    def report(self, event: str, cell_id: str, details: dict) -> None:
        position = f"[{self.ids[cell_id] + 1}/{self.timer.total}]"
        if event == "skip":
            self.timer.skip(cell_id)
            self._print(f"skip   {position} {escape(cell_id)}: {details['record']['status']} in an earlier run")
        elif event == "start":
            self.timer.start()
            self._phase = ""
        elif event == "phase":
            self._show(cell_id, details["phase"])
        else:
            seconds = self.timer.finish(cell_id)
            record = details["record"]
            eta = self._eta()
            if event == "done":
                self._print(f"done   {position} {escape(cell_id)}: {_numbers(record)} · {seconds:.1f} s · {eta}")
            else:
                self._print(f"[red]failed[/] {position} {escape(cell_id)} ({record['failed_phase']}): "
                            f"{escape(record['reason'])} · {eta}")
        if self._bar is not None:
            self._bar.update(self._task, completed=self.timer.done, eta=self._eta())

    def _show(self, cell_id: str, phase: str) -> None:
        text = f"cells {self.timer.done}/{self.timer.total} · {cell_id} · {phase}"
        if self._bar is not None:
            self._bar.update(self._task, description=escape(text))
            return
        head = phase.split(" seed ")[0]
        if head != self._phase:  # without a live bar: one line per phase, not per epoch
            self._phase = head
            self._print(f"       {escape(text)}")

    def _eta(self) -> str:
        left = self.timer.eta()
        return "ETA -" if left is None else f"ETA {_duration(left)}"

    def _print(self, text: str) -> None:
        """Print ``text`` (markup: escape what it quotes)."""
        self.console.print(text, highlight=False, soft_wrap=True)


def _numbers(record: dict) -> str:
    metrics = record["fit"]["metrics"]["train"]
    parts = []
    if "psnr" in metrics:
        parts.append(f"PSNR {metrics['psnr']:.1f} dB (off-grid {metrics['psnr_offgrid']:.1f})")
    if "iou" in metrics:
        parts.append(f"IoU {metrics['iou']:.3f} (off-grid {metrics['iou_offgrid']:.3f})")
    parts.append(f"NMI {record['nmi']['train']:.3f}")
    for name, entry in record["models"].items():
        if entry["status"] == "done":
            parts.append(f"{name} {100 * entry['test_mean']:.1f}%")
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
