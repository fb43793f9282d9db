"""The Hugging Face Hub form of a recipe source: the same examples, read with ``datasets``.

Used when the Hub is reachable (or a local mirror is given as ``dataset``, e.g. ``json`` with
``data_files``). Each language is one ``load_dataset`` call, since multilingual Hub datasets put each
language or language pair in its own config.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

from datasets import load_dataset

from mlsimcse.data.aligned_source import scored_pairs
from mlsimcse.data.local_files import OnProblem, RowCells
from mlsimcse.data.nli_source import nli_triplets, source_rng
from mlsimcse.data.recipe import NLI_ROW_COLUMNS, HubForm, SourceRecipe
from mlsimcse.data.recipe_checks import SCORE_COLUMN
from mlsimcse.data.report import SourceReport
from mlsimcse.data.sentence_split import split_sentences
from mlsimcse.data.text_files import RowProblem, check_same_length
from mlsimcse.records import OBJECTIVE_COLUMNS, Example


def read_hub_source(source: SourceRecipe, report: SourceReport, on_problem: OnProblem,
                    seed: int) -> Iterator[Example]:
    """Examples of every language of the source, read from the Hub (or a local ``datasets`` builder)."""
    if source.hub.nli_rows:
        yield from _nli_triplets(source, report, on_problem, seed)
        return
    if source.shape == "scored":
        yield from _scored_pairs(source, report, on_problem)
        return
    languages = source.other_languages if source.shape == "parallel" else source.languages
    for lang in languages:
        for index, row, where in _rows(source, lang, report):
            texts = _texts(source, row, OBJECTIVE_COLUMNS[source.shape], where, index + 1, on_problem)
            if texts is not None:
                yield from _examples(source, lang, texts, f"{source.name}/{lang}/{index}")


def _rows(source: SourceRecipe, lang: str, report: SourceReport) -> Iterator[tuple[int, dict[str, Any], str]]:
    """``(index, row, origin)`` of one language's split, up to ``max_rows``, counted in the report."""
    hub = source.hub
    where = f"hub:{hub.dataset}" + (f"/{_fill(hub.config, lang)}" if hub.config else "") + f"[{hub.split}]"
    report.inputs[where] = hub.revision or "unpinned"
    for index, row in enumerate(_load(hub, lang)):
        if hub.max_rows is not None and index >= hub.max_rows:
            return
        report.rows_read += 1
        yield index, row, where


def _nli_triplets(source: SourceRecipe, report: SourceReport, on_problem: OnProblem, seed: int) -> Iterator[Example]:
    """Per-language NLI splits whose rows are aligned (like XNLI's configs) grouped into triplets."""
    label_column = source.hub.columns["label"]

    def cells(row: dict[str, Any], where: str, line: int) -> RowCells:
        row = dict(row)
        row[label_column] = _label_name(row.get(label_column), source.hub.label_names)
        return RowCells(line, _texts(source, row, NLI_ROW_COLUMNS, where, line, on_problem))

    rows, origin = _rows_by_language(source, report, cells)
    check_same_length(list(rows.values()), [origin.get(lang, lang) for lang in rows])
    yield from nli_triplets(source, rows, origin, 0, on_problem, source_rng(source, seed))


def _scored_pairs(source: SourceRecipe, report: SourceReport, on_problem: OnProblem) -> Iterator[Example]:
    """Per-language scored splits; cross-lingual pairs need them row-aligned (like stsb_multi_mt's configs)."""
    score_column = source.hub.columns[SCORE_COLUMN]

    def cells(row: dict[str, Any], where: str, line: int) -> RowCells:
        texts = _texts(source, row, OBJECTIVE_COLUMNS["scored"], where, line, on_problem)
        score = _score(row.get(score_column))
        if texts is not None and score is None:
            on_problem(RowProblem("bad_label", f"score {row.get(score_column)!r} is not a finite number",
                                  path=where, line=line))
            texts = None
        return RowCells(line, texts, score)

    rows, origin = _rows_by_language(source, report, cells)
    if source.cross_lingual:
        check_same_length(list(rows.values()), [origin.get(lang, lang) for lang in rows])
    for index in range(max(map(len, rows.values()), default=0)):
        aligned = {lang: lang_rows[index] for lang, lang_rows in rows.items()
                   if index < len(lang_rows) and lang_rows[index].cells is not None}
        yield from scored_pairs(source, aligned, f"{source.name}/{index}")


RowReader = Callable[[dict[str, Any], str, int], RowCells]
"""Reads one Hub row, given the split it came from and its line number, into the cells a source needs."""


def _rows_by_language(source: SourceRecipe, report: SourceReport,
                      cells: RowReader) -> tuple[dict[str, list[RowCells]], dict[str, str]]:
    """Language -> its split's rows as ``cells`` reads them (row, origin, line number), and each split's origin."""
    rows: dict[str, list[RowCells]] = {}
    origin: dict[str, str] = {}
    for lang in source.languages:
        rows[lang] = []
        for index, row, where in _rows(source, lang, report):
            origin[lang] = where
            rows[lang].append(cells(row, where, index + 1))
    return rows, origin


def _score(value: Any) -> float | None:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if math.isfinite(score) else None


def _label_name(label: Any, names: list[str] | None) -> Any:
    """Integer class labels become names; anything else is left for the label check to judge."""
    if names and isinstance(label, int) and 0 <= label < len(names):
        return names[label]
    return label


def _load(hub: HubForm, lang: str) -> Any:
    data_files = hub.data_files
    if isinstance(data_files, str):
        data_files = _fill(data_files, lang)
    elif data_files is not None:
        data_files = [_fill(item, lang) for item in data_files]
    return load_dataset(
        hub.dataset,
        _fill(hub.config, lang) if hub.config else None,
        split=hub.split,
        data_files=data_files,
        revision=hub.revision,
        streaming=hub.streaming,
    )


def _fill(template: str, lang: str) -> str:
    return template.replace("{lang}", lang)


def _texts(source: SourceRecipe, row: dict[str, Any], columns: tuple[str, ...], where: str, line: int,
           on_problem: OnProblem) -> list[str] | None:
    texts = []
    for column in columns:
        value = row.get(source.hub.columns[column])
        if value is None:
            on_problem(RowProblem("missing_columns", f"no value in column {source.hub.columns[column]!r}", path=where, line=line))
            return None
        text = str(value).strip()
        if not text:
            on_problem(RowProblem("empty_text", f"empty {column}", path=where, line=line))
            return None
        texts.append(text)
    return texts


def _examples(source: SourceRecipe, lang: str, texts: list[str], group: str) -> Iterator[Example]:
    if source.shape == "unsup":
        pieces = split_sentences(texts[0]) if source.hub.split_sentences else texts
        for piece in pieces:
            yield Example("unsup", (piece,), (lang,), group=None, source=source.name)
    elif source.shape == "parallel":
        yield Example("parallel", tuple(texts), (source.pivot, lang), group=group, source=source.name)
    else:
        yield Example("sup", tuple(texts), (lang,) * 3, group=group, source=source.name)
