"""Value types for command-line options, so a bad number is a usage error naming the option.

argparse reports a ``type`` that raises ``ArgumentTypeError`` as ``argument --batch-size: ...`` and exits 2
before any file is read or model loaded; a plain ``int`` lets ``0`` or ``-1`` through to fail (or loop)
much later.
"""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1 (batch sizes, lengths, counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
