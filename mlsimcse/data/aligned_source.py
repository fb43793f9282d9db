"""Row-aligned text files (N-way parallel corpora, STS-B translations) as unsup, parallel or scored examples.

Row i of every language's file says the same thing, so all sentences of row i share one group id: the
sampler then never puts two translations of one sentence in a batch, even in unsup training where they
would be false negatives. A scored source (STS-B and its translations: two sentences and a gold score per
row) yields each language's own pair and, when ``cross_lingual``, the pivot's first sentence with each
translation's second and the other way round, at the row's score: graded similarity *across* languages,
which is what cross-lingual STS scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from mlsimcse.data.local_files import OnProblem, RowCells, read_cells, set_files
from mlsimcse.data.recipe import SourceRecipe
from mlsimcse.data.report import SourceReport
from mlsimcse.data.text_files import check_same_length
from mlsimcse.records import Example


def read_aligned_source(source: SourceRecipe, data_root: Path, report: SourceReport,
                        on_problem: OnProblem) -> Iterator[Example]:
    """Examples of every set of the source's local form, in file order."""
    columns = source.local.columns if source.local.format != "lines" else [0]
    for set_index, file_set in enumerate(source.local.sets):
        files = set_files(source, file_set, data_root)
        cells = {lang: read_cells(source, path, columns, on_problem, report, data_root) for lang, path in files.items()}
        check_same_length(list(cells.values()), list(files.values()))
        row_count = len(next(iter(cells.values())))
        for row in range(row_count):
            if source.shape == "scored":
                pairs = {lang: rows[row] for lang, rows in cells.items() if rows[row].cells is not None}
                yield from scored_pairs(source, pairs, f"{source.name}/{set_index}/{row}")
                continue
            for position in range(len(columns)):
                group = f"{source.name}/{set_index}/{row}" + (f"/{position}" if len(columns) > 1 else "")
                texts = {lang: rows[row].cells[position] for lang, rows in cells.items() if rows[row].cells is not None}
                yield from _examples(source, texts, group)


def _examples(source: SourceRecipe, texts: dict[str, str], group: str) -> Iterator[Example]:
    if source.shape == "unsup":
        for lang, text in texts.items():
            yield Example("unsup", (text,), (lang,), group=group, source=source.name)
        return
    pivot_text = texts.get(source.pivot)
    if pivot_text is None:
        return
    for lang, text in texts.items():
        if lang != source.pivot:
            yield Example("parallel", (pivot_text, text), (source.pivot, lang), group=group, source=source.name)


def scored_pairs(source: SourceRecipe, rows: dict[str, RowCells], group: str) -> Iterator[Example]:
    """The scored pairs of one aligned row: language -> its (sentence1, sentence2) cells and score."""
    def pair(first: str, second: str, score: float) -> Example:
        texts = (rows[first].cells[0], rows[second].cells[1])
        return Example("scored", texts, (first, second), group=group, source=source.name, score=score)

    for lang, row in rows.items():
        yield pair(lang, lang, row.score)
    pivot = rows.get(source.pivot)
    if source.cross_lingual and pivot is not None:
        for lang in rows:
            if lang != source.pivot:
                yield pair(source.pivot, lang, pivot.score)
                yield pair(lang, source.pivot, pivot.score)
