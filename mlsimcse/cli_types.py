"""Value types and shared options of the command line, so a bad value is a usage error naming the option.

argparse reports a ``type`` that raises ``ArgumentTypeError`` as ``argument --batch-size: ...`` and exits 2
before any file is read or model loaded; a plain ``int`` lets ``0`` or ``-1`` through to fail (or loop)
much later. The encoding precision is one option, ``--precision``, on every command that encodes.
"""

from __future__ import annotations

import argparse
import sys

from mlsimcse.choices import DTYPE_PRECISIONS, PRECISION_HELP, PRECISIONS


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
