"""Locate a source's local files under the data root and read their per-row text cells.

Shared by the aligned-text and NLI readers: both need "this set's file for language X" and "row i of
that file as a list of cells, or None when the row was malformed and skipped" so that skipping a row
never shifts the rows after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlsimcse.data.ptb import detokenize_ptb
from mlsimcse.data.recipe import SourceRecipe
from mlsimcse.data.report import SourceReport
from mlsimcse.data.text_files import RowProblem, iter_rows
from mlsimcse.errors import InputError
from mlsimcse.text_lines import read_lines

OnProblem = Callable[[RowProblem], None]


@dataclass
class RowCells:
    """One row's selected cells (None when the row was skipped), where it came from, and its score column."""

    line: int
    cells: list[str] | None
    score: float | None = None


def set_files(source: SourceRecipe, file_set: str | dict[str, str], data_root: Path) -> dict[str, Path]:
    """Language (or infersent field) -> existing file for one set; a missing file is an error."""
    if isinstance(file_set, str):
        codes = source.local.file_codes
        files = {lang: data_root / file_set.format(lang=codes.get(lang, lang)) for lang in source.languages}
    else:
        files = {key: data_root / relative for key, relative in file_set.items()}
    for path in files.values():
        if not path.is_file():
            raise InputError(f"file named by recipe source {source.name!r} not found under data root {data_root}", path=path)
    return files


def read_cells(source: SourceRecipe, path: Path, columns: list[int], on_problem: OnProblem,
               report: SourceReport, data_root: Path) -> list[RowCells]:
    """Every row of ``path`` reduced to the text ``columns``, cleaned; bad rows become ``cells=None``."""
    report.record_input(path, data_root)
    local = source.local
    if local.format in ("lines", "infersent"):
        rows = [RowCells(n, [text]) for n, text in enumerate(read_lines(path), start=1)]
    else:
        rows = []
        for line, fields in iter_rows(path, delimiter="," if local.format == "csv" else "\t", width=local.width,
                                      quoted=local.format == "csv", header=local.header, on_problem=on_problem):
            if fields is not None and local.score_column is not None and not _is_score(fields[local.score_column]):
                on_problem(RowProblem("bad_label", f"score {fields[local.score_column]!r} is not a finite number",
                                      path=path, line=line))
                fields = None
            score = None if fields is None or local.score_column is None else float(fields[local.score_column])
            rows.append(RowCells(line, None if fields is None else [fields[c] for c in columns], score))
    report.rows_read += len(rows)
    for row in rows:
        if row.cells is not None:
            row.cells = _clean_cells(source, row, path, on_problem)
    return rows


def _clean_cells(source: SourceRecipe, row: RowCells, path: Path, on_problem: OnProblem) -> list[str] | None:
    cleaned = []
    for text in row.cells:
        text = detokenize_ptb(text) if source.detokenize == "ptb" else text.strip()
        if not text:
            on_problem(RowProblem("empty_text", "empty sentence", path=path, line=row.line))
            return None
        cleaned.append(text)
    return cleaned


def _is_score(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
