"""Help pages as people read them: ``-h`` as well as ``--help``, flags without a type, and prose
that wraps to the terminal.

typer prints a type beside every option, ``<bool>`` too for flags such as ``--quiet`` and
``--help`` whose name says all there is. :class:`Command` and :class:`Group` (and the commands and
groups under a :class:`Group`) print none for a flag; every other option keeps its type. typer also
keeps the line breaks of a docstring's later paragraphs, so at 80 columns every source line wrapped
twice; the same classes join each paragraph into one line and let the terminal wrap it.

Run as a program, they also end a usage error (an unknown option or command, a value of the wrong
type, a missing argument) the way every other bad input ends: one line naming it and pointing at
``--help``, exit status 1, where click draws a box and exits with 2.
"""

from __future__ import annotations

import os
import sys

from typer import Abort, Context
from typer.core import TyperCommand, TyperGroup, TyperOption

from arena.cli._common import print_error

try:  # typer 0.2x carries its own click, whose errors are these
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - a typer that uses the click package
    from click import exceptions as _click_errors

CONTEXT = {"help_option_names": ["-h", "--help"]}


def untyped_flags(params: list) -> list:
    """``params`` with every boolean flag's help type left out (an empty metavar)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_bool_flag and param.metavar is None:
            param.metavar = ""
    return params


def reflow(text: str | None) -> str | None:
    """``text`` with the line breaks inside each paragraph (blank-line separated) made spaces;
    a paragraph that starts with click's ``\\b`` keeps its lines, and ``\\f`` ends the help."""
    if not text:
        return text
    text = text.partition("\f")[0].strip()
    return "\n\n".join(p if p.lstrip().startswith("\b") else " ".join(line.strip() for line in p.splitlines())
                       for p in text.split("\n\n"))


class _OneLineErrors:
    """``main`` as click's, but a usage error is one line and exit status 1 (see the module docstring)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        run = super().main  # type: ignore[misc]
        if not standalone_mode:
            return run(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = run(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_errors.UsageError as exc:
            if not exc.format_message():  # no arguments, and the help was printed instead
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else (prog_name or os.path.basename(sys.argv[0]))
            print_error(f"{exc.format_message().rstrip('.')}; {where} --help lists what it takes.")
            sys.exit(1)
        except _click_errors.ClickException as exc:
            print_error(exc.format_message())
            sys.exit(exc.exit_code)
        except Abort:
            print("Aborted.", file=sys.stderr)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)  # an Exit's code; a command's return value is no status


class Command(_OneLineErrors, TyperCommand):
    """A command whose help shows its flags without ``<bool>`` and its paragraphs unbroken."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Context) -> list:
        return untyped_flags(super().get_params(ctx))


class Group(_OneLineErrors, TyperGroup):
    """A command group whose help, and that of every command under it, shows flags without ``<bool>``
    and paragraphs unbroken."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Context) -> list:
        return untyped_flags(super().get_params(ctx))

    def get_command(self, ctx: Context, cmd_name: str):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _untype_tree(command, ctx)
        return command


def _untype_tree(command, ctx: Context) -> None:
    command.help = reflow(command.help)
    untyped_flags(command.get_params(ctx))
    for sub in getattr(command, "commands", {}).values():
        _untype_tree(sub, ctx)
