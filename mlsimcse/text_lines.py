"""Strict UTF-8 line reading, the one way every command reads a text file its user gave it.

A silently replaced byte or a skipped line shifts every later row against its translation or its gold score,
so nothing here is lenient: a missing file, a folder, or a byte that is not UTF-8 is an :class:`InputError`
naming the file and the line. Files are read as bytes and split on ``\\n`` only, so the line numbers in
errors are the ones an editor shows, whatever line endings the file has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from mlsimcse.errors import InputError


def decode_line(raw: bytes, *, path: str | Path, line: int) -> str:
    """One line's bytes as text; a byte that is not UTF-8 is an error at that line (and byte within it)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 ({err.reason} at byte {err.start})", path=path, line=line) from None


def iter_lines(path: str | Path) -> Iterator[str]:
    """The file's lines as text with their line endings kept (the csv module needs them)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except IsADirectoryError:
        raise InputError("expected a file, found a folder", path=path) from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            yield decode_line(raw, path=path, line=line_no)


def strip_line_ending(line: str) -> str:
    """``line`` without its ending, ``\\n`` or ``\\r\\n``; nothing else is changed."""
    line = line.removesuffix("\n")
    return line.removesuffix("\r")


def read_lines(path: str | Path) -> list[str]:
    """One entry per line, line ending removed; a final newline does not make an extra empty line."""
    return [strip_line_ending(line) for line in iter_lines(path)]


def read_sentences(path: str | Path) -> list[str]:
    """One sentence per line; an empty line, a non-UTF-8 byte or an empty file is an error naming the line."""
    sentences = read_lines(path)
    for line_no, text in enumerate(sentences, start=1):
        if not text.strip():
            raise InputError("empty sentence", path=path, line=line_no)
    if not sentences:
        raise InputError("no sentences in file", path=path)
    return sentences
