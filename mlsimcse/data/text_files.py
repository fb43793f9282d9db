"""Strict readers for the raw corpus files: every problem is reported with its file and line.

Corpora arrive as plain line files, CSV with Excel quoting and TSV without quoting, often with CRLF
endings. A silently skipped bad byte or a short file would shift every later row against its
translation, so these readers decode strictly, check column counts, and make aligned reads fail when the
files differ in length instead of truncating to the shorter one.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Iterator, Sequence

from mlsimcse.errors import InputError
from mlsimcse.text_lines import iter_lines


class RowProblem(Exception):
    """One malformed row, which a recipe may either fail on or skip and count under ``reason``."""

    def __init__(self, reason: str, message: str, *, path: str | Path, line: int):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.path = str(path)
        self.line = line

    def as_input_error(self) -> InputError:
        return InputError(self.message, path=self.path, line=self.line)


def iter_rows(
    path: str | Path,
    *,
    delimiter: str,
    width: int,
    quoted: bool,
    on_problem: Callable[[RowProblem], None],
    header: bool = False,
) -> Iterator[tuple[int, list[str] | None]]:
    """``(line number, fields)`` of a CSV (``quoted``, Excel rules) or TSV file with ``width`` fields per row.

    A row with another field count goes to ``on_problem`` (which raises or counts it) and is yielded as
    ``None``, so row positions stay aligned with the other languages' files.
    """
    quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    reader = csv.reader(iter_lines(path), delimiter=delimiter, quoting=quoting, strict=True)
    row_start = 1
    try:
        for fields in reader:
            line_no, row_start = row_start, reader.line_num + 1
            if header and line_no == 1:
                continue
            if len(fields) != width:
                on_problem(RowProblem("missing_columns", f"expected {width} fields, found {len(fields)}", path=path, line=line_no))
                yield line_no, None
                continue
            yield line_no, fields
    except csv.Error as err:
        raise InputError(f"malformed {'CSV' if quoted else 'TSV'} ({err})", path=path, line=row_start) from None


def check_same_length(columns: Sequence[Sequence[object]], paths: Sequence[str | Path]) -> None:
    """Aligned files must have equal row counts; name the first file that differs from the first one."""
    expected = len(columns[0])
    for column, path in zip(columns, paths):
        if len(column) != expected:
            raise InputError(
                f"has {len(column)} rows but {paths[0]} has {expected}; aligned files must match row for row",
                path=path,
            )
