"""Strict readers for the plain-text formats evaluation data comes in.

A silently shifted line turns a benchmark into noise, so every reader here fails loudly with the file and
line: missing files, bytes that are not UTF-8, gold scores that are not numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from mlsimcse.errors import InputError


def read_text(path: Path) -> str:
    """Whole file as UTF-8 text, with an error naming the line of the first undecodable byte."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("expected a file, found a folder", path=path) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 ({err.reason} at byte {err.start})", path=path, line=line) from None


def read_lines(path: Path) -> list[str]:
    """Lines without their line endings (LF or CRLF); a final newline does not make an extra empty line."""
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


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
