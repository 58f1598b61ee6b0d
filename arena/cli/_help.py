"""Help pages as people read them: ``-h`` as well as ``--help``, flags without a type, and prose
that wraps to the terminal.

typer prints a type beside every option, ``<bool>`` too for flags such as ``--quiet`` and
``--help`` whose name says all there is. :class:`Command` and :class:`Group` (and the commands and
groups under a :class:`Group`) print none for a flag; every other option keeps its type. typer also
keeps the line breaks of a docstring's later paragraphs, so at 80 columns every source line wrapped
twice; the same classes join each paragraph into one line and let the terminal wrap it.
"""

from __future__ import annotations

from typer import Context
from typer.core import TyperCommand, TyperGroup, TyperOption

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


class Command(TyperCommand):
    """A command whose help shows its flags without ``<bool>`` and its paragraphs unbroken."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help = reflow(self.help)

    def get_params(self, ctx: Context) -> list:
        return untyped_flags(super().get_params(ctx))


class Group(TyperGroup):
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
