"""What every command shares: user errors become one red line and exit code 1."""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

import typer
from rich.console import Console

from arena.errors import ArenaError

err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """``error: MESSAGE`` in red on stderr, on one line however long (a path stays whole to copy)."""
    from rich.markup import escape  # a message's own brackets ([eval], [[models]]) are text, not markup

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def plain_warnings() -> None:
    """Warnings raised in the Arena's own code print as one ``warning: ...`` line, without the
    source file and line Python adds; other libraries' warnings keep Python's format. Called by the
    console scripts' ``main`` only (importing the library changes no global setting)."""
    python_format = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        here = Path(filename).resolve()
        ours = [Path(__file__).resolve().parents[1]]  # arena/
        if "arena_builders" in sys.modules:
            ours.append(Path(sys.modules["arena_builders"].__file__).resolve().parent)
        if any(here.is_relative_to(root) for root in ours):
            from rich.markup import escape

            err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
        else:
            python_format(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def fail(message: str) -> None:
    print_error(message)
    raise typer.Exit(1)


def user_errors(fn):
    """Turn the library's domain errors into one red line and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ArenaError as exc:
            fail(str(exc))
        except OSError as exc:  # a path the user gave that cannot be written or read
            fail(f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc))

    return wrapper
