"""The one progress display of the package: the fitter's, the builders' and the harness's.

A :class:`Display` is one rich live area holding labelled lines, each counting items (NeFs,
samples, meshes) with its own unit, rate and ETA. ``enabled`` may be ``True`` (draw on the
terminal), ``False`` (silent) or a callable, which then receives every advance of the lines
opened with ``forward=True`` instead, so that a caller's own bar can follow. A line with nothing
to do is not drawn (no 0/0 bar). :class:`Bar` is a display of one line, the common case.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


WIDE = 140  # from this terminal width on, a line has its bar, counts (m/n) and elapsed time


class Display:
    """A live area of labelled progress lines (see the module docstring)."""

    def __init__(self, enabled: bool | Callable[[int], Any], *, note: bool = False):
        self.enabled = enabled is True
        self._callback = enabled if callable(enabled) else None
        self._with_note = note
        self._live = None

    def __enter__(self) -> Display:
        if self.enabled:
            from rich import get_console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            console = get_console()  # rich's shared console, so a caller's own live display nests
            wide = console.width >= WIDE  # narrower: short counts (else a percent), rate, note, ETA
            counts = [BarColumn(), MofNCompleteColumn()] if wide else [_short_count_column()]
            columns = [TextColumn("{task.description}"), *counts, TextColumn("{task.fields[rate]}")]
            if self._with_note:
                columns.append(TextColumn("{task.fields[note]}"))
            columns += [*([TimeElapsedColumn()] if wide else []), TextColumn("ETA"), TimeRemainingColumn(compact=not wide)]
            self._live = Progress(*columns, console=console, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def line(self, label: str, total: int, unit: str, *, forward: bool = True) -> Line:
        """A new line of ``total`` ``unit`` (drawn below the earlier ones, which stay as they ended)."""
        task = None
        if self._live is not None and total > 0:
            task = self._live.add_task(label, total=total, rate=f"- {unit}/s", note="")
        return Line(self._live, task, unit, total, self._callback if forward else None)


def _short_count_column():
    """``m/n`` for fewer than 10,000 items (NeFs, meshes), else a percent: the harness counts
    samples over all epochs (50,320 for neural_digits), too wide for 80 columns beside its note."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class ShortCount(ProgressColumn):
        def render(self, task) -> Text:
            if task.total is not None and task.total < 10_000:
                return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")
            return Text(f"{task.percentage:>3.0f}%", style="progress.percentage")

    return ShortCount()


class Line:
    """One line of a :class:`Display`: :meth:`advance`, :meth:`skip`, :meth:`note`."""

    def __init__(self, live, task, unit: str, total: int, callback):
        self._live, self._task, self.unit, self.total = live, task, unit, total
        self._callback = callback
        self._t0, self._done = time.perf_counter(), 0

    def advance(self, k: int) -> None:
        if self._callback is not None:
            self._callback(k)
        if self._task is not None:
            self._done += k
            rate = self._done / max(time.perf_counter() - self._t0, 1e-9)
            self._live.update(self._task, advance=k, rate=f"{rate:,.{0 if rate >= 10 else 2}f} {self.unit}/s")

    def restore(self, k: int) -> None:
        """Count ``k`` items done before this process started (read from a checkpoint): on the
        bar, never in the rate."""
        if self._callback is not None:
            self._callback(k)
        if self._task is not None:
            self._live.update(self._task, advance=k)

    def skip(self, k: int) -> None:
        """Take ``k`` items that are already done out of the total, the rate and the ETA."""
        self.total -= k
        if self._task is not None:
            self._live.update(self._task, total=self.total)

    def note(self, text: str, *, label: str | None = None) -> None:
        """Show ``text`` beside the rate (and a new ``label``, if given)."""
        if self._task is not None:
            self._live.update(self._task, note=text, **({} if label is None else {"description": label}))


class Bar:
    """A display of one line: ``with Bar(n, enabled=True, label="fitting") as bar: bar.advance(k)``."""

    def __init__(self, total: int, *, enabled: bool | Callable[[int], Any], label: str, unit: str = "NeFs",
                 note: bool = False):
        self.total, self.label, self.unit = total, label, unit
        self._display = Display(enabled, note=note)
        self._line: Line | None = None

    def __enter__(self) -> Bar:
        self._display.__enter__()
        self._line = self._display.line(self.label, self.total, self.unit)
        return self

    def __exit__(self, *exc) -> None:
        self._display.__exit__(*exc)

    def phase(self, label: str, total: int) -> None:
        """Continue on a new line (e.g. the next seed)."""
        self._line = self._display.line(label, total, self.unit)

    def advance(self, k: int) -> None:
        self._line.advance(k)

    def restore(self, k: int) -> None:
        self._line.restore(k)

    def skip(self, k: int) -> None:
        self._line.skip(k)

    def note(self, text: str, *, label: str | None = None) -> None:
        self._line.note(text, label=label)
