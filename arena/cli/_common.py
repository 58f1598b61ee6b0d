"""What every command shares: user errors become one red line and exit code 1."""

from __future__ import annotations

import functools

import typer
from rich.console import Console

from arena.errors import ArenaError

err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """``error: MESSAGE`` in red on stderr, on one line however long (a path stays whole to copy)."""
    from rich.markup import escape  # a message's own brackets ([eval], [[models]]) are text, not markup

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


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
