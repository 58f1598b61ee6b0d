"""``arena study sweep``: fit and evaluate every cell of a grid, resumably, under one directory.

The sweep directory holds::

    sweep.json              the configuration's identity (a rerun must match it, but its grid)
    sweep.lock              held by the sweep running in it (a second one is refused)
    cells.jsonl             one record per finished cell (done or failed), of this run's grid and
                            of earlier runs' grids
    cells/<cell id>/        dataset/, results/<model>.json, cell.json (see arena.study._cell)

A sweep starts only in a new or empty directory, or in one holding ``sweep.json``: it never
writes into a folder of other files. A rerun skips every cell whose ``cell.json`` says done
(and, unless ``retry_failed``, failed): a killed sweep does no finished cell twice, and the cell
it was killed in resumes from what it left complete (the builder's shards, a finished dataset,
written results).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from arena import format as fmt
from arena.errors import ConfigError
from arena.study import _cell
from arena.study.config import Cell, SweepConfig, check_cells

IDENTITY = "sweep.json"
LOCK = "sweep.lock"
INDEX = "cells.jsonl"
CELLS = "cells"


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What a sweep run did: cells in the grid, done now, failed now, skipped as already finished."""

    root: Path
    total: int
    done: int
    failed: int
    skipped: int


Report = Callable[[str, str, dict], None]  # (event, cell id, details); events: skip, start, phase, done, failed


def sweep(config: SweepConfig, out: str | Path, *, options: _cell.CellOptions | None = None,
          retry_failed: bool = False, report: Report = lambda *_: None) -> SweepSummary:
    """Run every cell of ``config`` not yet finished in ``out``; return what was done.

    ``options`` carries the NMI seed and restarts, the eval device and threads (default:
    :func:`options_for` ``(config)``: the config's NMI settings, on the CPU). ``report(event, cell_id, details)`` is called as cells are skipped, start, change
    phase (``details["phase"]``: fit, nmi, eval NAME ...) and finish (``details["record"]``).

    Raises:
        ConfigError: ``out`` is a file, a folder of other files, or holds a sweep of another
            configuration, or a cell's settings are invalid (checked for every cell before any fit).
        arena.hub.BusyError: another sweep is running in ``out``.
    """
    root = Path(out)
    options = options or options_for(config)
    cells = config.cells()
    check_cells(cells, config.models)
    _check_out(root)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        _claim(root, config)
        done = failed = skipped = 0
        for i, cell in enumerate(cells):
            previous = _cell.read_record(cell_dir(root, cell))
            if previous is not None and previous.get("overrides") != dict(cell.overrides):
                raise ConfigError(f"{cell_dir(root, cell)} holds cell {cell.id} with other settings than this "
                                  "sweep's; give another --out (or delete that cell's directory).")
            if previous is not None and (previous["status"] == "done" or not retry_failed):
                skipped += 1
                report("skip", cell.id, {"index": i, "record": previous})
                continue
            report("start", cell.id, {"index": i})
            record = _cell.run(cell, config.models, cell_dir(root, cell), options,
                               phase=lambda p, c=cell: report("phase", c.id, {"phase": p}))
            write_index(root, config)
            if record["status"] == "done":
                done += 1
            else:
                failed += 1
            report(record["status"], cell.id, {"index": i, "record": record})
        write_index(root, config)
    return SweepSummary(root=root, total=len(cells), done=done, failed=failed, skipped=skipped)


def cell_dir(root: Path, cell: Cell) -> Path:
    return root / CELLS / cell.id


def options_for(config: SweepConfig, **kwargs: Any) -> _cell.CellOptions:
    """The cell options of ``config`` (its NMI settings) with ``kwargs`` (device, threads)."""
    return _cell.CellOptions(nmi_seed=config.nmi_seed, nmi_n_init=config.nmi_n_init, **kwargs)


def write_index(root: Path, config: SweepConfig) -> Path:
    """Rewrite ``cells.jsonl``: the record of every finished cell under ``cells/`` that is a cell of
    ``config`` (its dataset, and the settings ``config`` gives its grid values), whichever grid
    it was run with; those the index listed first, in its order, then the grid's, then the rest by
    name, so that a rerun with a narrower grid keeps what the wider one found."""
    folder = root / CELLS
    present = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    order = dict.fromkeys([*_indexed(root), *(c.id for c in config.cells()), *sorted(present)])
    records = {cell_id: _cell.read_record(folder / cell_id) for cell_id in order if cell_id in present}
    lines = [json.dumps(r) for cell_id, r in records.items() if _belongs(r, config) and r["cell"] == cell_id]
    return fmt.write_text_atomic(root / INDEX, "".join(line + "\n" for line in lines))


def read_index(root: str | Path) -> list[dict[str, Any]]:
    """The records in ``root/cells.jsonl``.

    Raises :class:`ConfigError` when it is not a sweep, or naming the line that is not a cell
    record (a JSON object with ``cell``, ``status`` done or failed, ``settings`` with ``arch``
    and ``dataset`` with ``name``; ``models``, ``fit`` and ``nmi``, where present, as the sweep
    writes them).
    """
    path = Path(root) / INDEX
    if not path.is_file():
        raise ConfigError(f"{root} holds no {INDEX}: it is not a sweep directory (or no cell has finished "
                          "yet); run `arena study sweep CONFIG --out DIR` first.")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not _is_record(record):
                raise ConfigError(f"{path}, line {n}, is not a cell record; rerun the sweep to rewrite it.")
            records.append(record)
    return records


def _is_record(r: Any) -> bool:
    """Whether ``r`` has the shape of a cell record, as far as the plots read it."""
    def table(x: Any, *keys: str) -> bool:
        return isinstance(x, dict) and all(k in x for k in keys)

    if not (table(r, "cell", "status", "settings", "dataset") and isinstance(r["cell"], str)
            and r["status"] in ("done", "failed") and table(r["settings"], "arch") and table(r["dataset"], "name")):
        return False
    models = r.get("models", {})
    fit = r.get("fit", {"metrics": {"train": {}}})
    return (table(models) and all(table(m, "status") for m in models.values())
            and table(fit, "metrics") and table(fit["metrics"], "train") and table(fit["metrics"]["train"])
            and table(r.get("nmi", {"train": None}), "train"))


def _belongs(record: Any, config: SweepConfig) -> bool:
    """Whether ``record`` is a finished cell of ``config``: one of its datasets, and the settings
    ``config`` gives the cell's grid values (whichever grid it was run with)."""
    if not _is_record(record) or not isinstance(record.get("values"), dict):
        return False
    for dataset in config.datasets:
        if {k: record["dataset"].get(k) for k in ("recipe", "name", "sizes")} == dataset.identity():
            cell = config.cell(dataset, record["values"])
            return (cell.id, dict(cell.overrides)) == (record["cell"], record.get("overrides"))
    return False


def _indexed(root: Path) -> list[str]:
    """The cell ids ``root/cells.jsonl`` lists, in order (none when it is missing; bad lines are skipped)."""
    try:
        lines = (root / INDEX).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    ids = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and isinstance(record.get("cell"), str):
                ids.append(record["cell"])
    return ids


def _check_out(root: Path) -> None:
    """Refuse an ``out`` that is a file, or a folder of other files (no ``sweep.json``)."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file; give a folder for the sweep (a new one, or a sweep's to resume it).")
    ours = (LOCK, IDENTITY, fmt.incomplete_path(IDENTITY).name)
    if root.is_dir() and not (root / IDENTITY).is_file() and any(p.name not in ours for p in root.iterdir()):
        raise ConfigError(f"--out {root} holds other files and no {IDENTITY}: it is not a sweep; give a new or "
                          "empty folder, or a sweep's to resume it.")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold ``root/sweep.lock`` (in the sweep's folder: every process that sees the folder sees it),
    or raise :class:`arena.hub.BusyError` when another process holds it."""
    import filelock

    from arena.hub import BusyError

    held = filelock.FileLock(str(root / LOCK), timeout=0)
    try:
        held.acquire()
    except filelock.Timeout:
        raise BusyError(f"Another arena study sweep is running in {root} now; wait for it, or give another "
                        "--out.") from None
    try:
        yield
    finally:
        held.release()


def work(cell: Cell) -> float:
    """A cell's relative cost for the ETA: NeFs x steps x width (its fit's dominant terms)."""
    import arena_builders

    recipe = arena_builders.recipe(cell.dataset.recipe).with_overrides(dict(cell.overrides))
    sizes = dict(cell.dataset.sizes) or dict(recipe.sizes) or {"train": 1}
    return float(sum(sizes.values()) * recipe.steps * recipe.hparams.get("hidden", 32))


def _claim(root: Path, config: SweepConfig) -> None:
    """Record the configuration's identity in ``root``, or refuse a different one already there.

    The grid may change between runs (cells are named by their grid values, so new values are
    new cells); everything else that shapes a cell's numbers (datasets, fixed and per-architecture
    settings, models, NMI settings) may not.
    """
    path = root / IDENTITY
    identity = {k: v for k, v in config.identity().items() if k != "grid"}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            existing = None
        if existing != identity:
            keys = sorted(k for k in identity if not isinstance(existing, dict) or existing.get(k) != identity[k])
            raise ConfigError(f"{root} holds a sweep of another configuration (it differs in: {', '.join(keys)}); "
                              "rerun with the same configuration, or give another --out.")
        return
    _cell.write_json(path, identity)


class Timer:
    """Cells done / total and an ETA from the cells run so far, weighted by :func:`work`."""

    def __init__(self, cells: list[Cell]):
        self.weights = {c.id: work(c) for c in cells}
        self.total = len(cells)
        self.finished: set[str] = set()
        self.spent = 0.0
        self.spent_work = 0.0
        self._start: float | None = None

    def skip(self, cell_id: str) -> None:
        self.finished.add(cell_id)

    def start(self) -> None:
        self._start = time.perf_counter()

    def finish(self, cell_id: str) -> float:
        seconds = time.perf_counter() - (self._start or time.perf_counter())
        self.spent += seconds
        self.spent_work += self.weights[cell_id]
        self.finished.add(cell_id)
        return seconds

    @property
    def done(self) -> int:
        return len(self.finished)

    def eta(self) -> float | None:
        """Seconds left, or ``None`` before any cell has run in this process."""
        if self.spent_work <= 0:
            return None
        left = sum(w for c, w in self.weights.items() if c not in self.finished)
        return left * self.spent / self.spent_work
