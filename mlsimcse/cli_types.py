"""How a command is declared, and the value types and options commands share.

A command's ``--help`` description is the docstring of the function that runs it (:func:`add_command`), so the
text a user reads sits where the behaviour it describes is written, once, in the way click and typer keep it.

argparse reports a ``type`` that raises ``ArgumentTypeError`` as ``argument --batch-size: ...`` and exits 2
before any file is read or model loaded; a plain ``int`` lets ``0`` or ``-1`` through to fail (or loop)
much later. The encoding precision is one option, ``--precision``, on every command that encodes.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Callable

from mlsimcse.choices import DTYPE_PRECISIONS, PRECISION_HELP, PRECISIONS


def add_command(subparsers: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int],
                summary: str, *, epilog: str | None = None) -> argparse.ArgumentParser:
    """The subcommand ``name``, listed with ``summary``, described by ``run``'s docstring, and run by ``run``."""
    description = " ".join(inspect.cleandoc(run.__doc__ or "").split())
    parser = subparsers.add_parser(name, help=summary, description=description or None, epilog=epilog,
                                   formatter_class=_KeepLineBreaks)
    parser.set_defaults(func=run)
    return parser


class _KeepLineBreaks(argparse.HelpFormatter):
    """Flows a paragraph to the terminal's width; a text with line breaks of its own (examples, lists of
    names) is printed as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_precision_option(group, *, legacy_flag: str = "--dtype", default: str | None = None,
                         extra_help: str = "") -> None:
    """``--precision``, plus the dtype option that came before it (``legacy_flag``), which still works, unlisted,
    with a warning: a script written for an older mlsimcse keeps running and learns the new spelling."""
    group.add_argument("--precision", choices=PRECISIONS, default=default, help=PRECISION_HELP + extra_help)
    group.add_argument(legacy_flag, dest="precision", choices=tuple(DTYPE_PRECISIONS), action=_LegacyDtype,
                       help=argparse.SUPPRESS)


class _LegacyDtype(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        precision = DTYPE_PRECISIONS[value]
        print(f"mlsimcse: {option_string} {value} is deprecated; use --precision {precision}", file=sys.stderr)
        namespace.precision = precision


def positive_int(text: str) -> int:
    """An integer of at least 1 (batch sizes, lengths, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
