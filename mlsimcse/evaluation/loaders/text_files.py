"""Strict field checks for the plain-text formats evaluation data comes in.

A silently shifted line turns a benchmark into noise, so every check here fails loudly with the file and
line: gold scores that are not numbers, rows with the wrong field count, empty sentences. The lines
themselves are read by :mod:`mlsimcse.text_lines` (missing files, bytes that are not UTF-8).
"""

from __future__ import annotations

import math
from pathlib import Path

from mlsimcse.errors import InputError


def parse_score(text: str, *, path: Path | str, line: int) -> float:
    """A gold similarity score; anything but a finite number is an error at that line."""
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"gold score {text!r} is not a number", path=path, line=line) from None
    if not math.isfinite(value):
        raise InputError(f"gold score {text!r} is not a finite number", path=path, line=line)
    return value


def split_fields(line: str, count: int, *, path: Path, line_no: int, what: str) -> list[str]:
    """Tab-separated fields of one line, exactly ``count`` of them."""
    fields = line.split("\t")
    if len(fields) != count:
        found = f"found {len(fields)}"
        raise InputError(f"expected {count} tab-separated fields ({what}), {found}", path=path, line=line_no)
    return fields


def require_text(text: str, *, what: str, path: Path | str, line: int) -> str:
    """A sentence that is not empty or blank."""
    if not text.strip():
        raise InputError(f"empty {what}", path=path, line=line)
    return text
