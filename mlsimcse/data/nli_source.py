"""NLI rows as (premise, entailment, contradiction) triplets, monolingual or mSimCSE-style cross-lingual.

SimCSE's supervised objective uses the entailed hypothesis as the positive and the contradicted one as
a hard negative, so hypotheses are grouped by premise and paired up. mSimCSE showed that drawing the
premise and the two hypotheses from different languages of an aligned NLI set teaches cross-lingual
alignment without parallel data; XNLI rows are aligned across its 15 languages, which makes that
possible here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from mlsimcse.data.local_files import OnProblem, RowCells, read_cells, set_files
from mlsimcse.data.normalize import normalize_text
from mlsimcse.data.recipe import SourceRecipe
from mlsimcse.data.report import SourceReport
from mlsimcse.data.text_files import RowProblem, check_same_length
from mlsimcse.errors import InputError
from mlsimcse.records import Example

NLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclass
class _PremiseGroup:
    """Row numbers of one premise's entailed and contradicted hypotheses, in file order."""

    anchor_row: int
    entailments: list[int] = field(default_factory=list)
    contradictions: list[int] = field(default_factory=list)


def read_nli_source(source: SourceRecipe, data_root: Path, report: SourceReport, on_problem: OnProblem,
                    seed: int) -> Iterator[Example]:
    """Triplets of every set of the source's local form."""
    rng = source_rng(source, seed)
    for set_index, file_set in enumerate(source.local.sets):
        rows, label_origin = _read_set(source, file_set, data_root, report, on_problem)
        yield from nli_triplets(source, rows, label_origin, set_index, on_problem, rng)


def source_rng(source: SourceRecipe, seed: int) -> np.random.Generator:
    """The generator of a source's random choices: fixed by the recipe seed and the source name."""
    return np.random.default_rng([seed, zlib.crc32(source.name.encode("utf-8"))])


def nli_triplets(source: SourceRecipe, rows: dict[str, list[RowCells]], label_origin: dict[str, str | Path],
                 set_index: int, on_problem: OnProblem, rng: np.random.Generator) -> Iterator[Example]:
    """Triplets from language -> aligned rows of [premise, hypothesis, label] (None for skipped rows).

    ``label_origin`` names, per language, the file (or Hub split) the labels came from, for errors.
    """
    for lang, lang_rows in rows.items():
        for row in lang_rows:
            if row.cells is not None and row.cells[2] not in NLI_LABELS:
                on_problem(RowProblem("bad_label", f"unknown NLI label {row.cells[2]!r}; expected one of {NLI_LABELS}",
                                      path=label_origin[lang], line=row.line))
                row.cells = None
    _check_labels_agree(rows, label_origin)
    pivot = source.pivot if source.pivot in rows else source.languages[0]
    for premise_index, group in enumerate(_group_by_premise(rows[pivot])):
        group_id = f"{source.name}/{set_index}/{premise_index}"
        for entailment, contradiction in zip(group.entailments, group.contradictions):
            yield from _triplets(source, rows, group, entailment, contradiction, group_id, rng)


def _read_set(source: SourceRecipe, file_set, data_root: Path, report: SourceReport,
              on_problem: OnProblem) -> tuple[dict[str, list[RowCells]], dict[str, Path]]:
    """Language -> rows of [premise, hypothesis, label], and the file each language's labels are in."""
    files = set_files(source, file_set, data_root)
    if source.local.format == "infersent":
        parts = {name: read_cells(source, path, [0], on_problem, report, data_root) for name, path in files.items()}
        check_same_length([parts[name] for name in ("premise", "hypothesis", "label")],
                          [files[name] for name in ("premise", "hypothesis", "label")])
        merged = [_merge(p, h, l) for p, h, l in zip(parts["premise"], parts["hypothesis"], parts["label"])]
        return {source.languages[0]: merged}, {source.languages[0]: files["label"]}
    columns = [*source.local.columns, source.local.label_column]
    rows = {lang: read_cells(source, path, columns, on_problem, report, data_root) for lang, path in files.items()}
    check_same_length(list(rows.values()), list(files.values()))
    return rows, files


def _merge(premise: RowCells, hypothesis: RowCells, label: RowCells) -> RowCells:
    if premise.cells is None or hypothesis.cells is None or label.cells is None:
        return RowCells(premise.line, None)
    return RowCells(premise.line, [premise.cells[0], hypothesis.cells[0], label.cells[0]])


def _check_labels_agree(rows: dict[str, list[RowCells]], label_file: dict[str, str | Path]) -> None:
    """Aligned NLI files carry the same label on every row; a mismatch means the files are shifted."""
    first_lang, first_rows = next(iter(rows.items()))
    for lang, lang_rows in rows.items():
        for reference, row in zip(first_rows, lang_rows):
            if reference.cells is not None and row.cells is not None and reference.cells[2] != row.cells[2]:
                raise InputError(
                    f"label {row.cells[2]!r} differs from {reference.cells[2]!r} on the same row of "
                    f"{label_file[first_lang]}: the files are not row-aligned",
                    path=label_file[lang],
                    line=row.line,
                )


def _group_by_premise(rows: list[RowCells]) -> list[_PremiseGroup]:
    """Premise groups in first-seen order, keyed by the normalised premise text."""
    groups: dict[str, _PremiseGroup] = {}
    for index, row in enumerate(rows):
        if row.cells is None:
            continue
        premise, _hypothesis, label = row.cells
        group = groups.setdefault(normalize_text(premise), _PremiseGroup(anchor_row=index))
        if label == "entailment":
            group.entailments.append(index)
        elif label == "contradiction":
            group.contradictions.append(index)
    return list(groups.values())


def _triplets(source: SourceRecipe, rows: dict[str, list[RowCells]], group: _PremiseGroup, entailment: int,
              contradiction: int, group_id: str, rng: np.random.Generator) -> Iterator[Example]:
    """One triplet per language whose rows are intact; cross-lingual picks hypothesis languages at random."""
    usable = [lang for lang in source.languages
              if all(rows[lang][i].cells is not None for i in (group.anchor_row, entailment, contradiction))]
    for anchor_lang in usable:
        if source.cross_lingual:
            positive_lang, negative_lang = (usable[i] for i in rng.integers(len(usable), size=2))
        else:
            positive_lang = negative_lang = anchor_lang
        yield Example(
            "sup",
            (rows[anchor_lang][group.anchor_row].cells[0], rows[positive_lang][entailment].cells[1],
             rows[negative_lang][contradiction].cells[1]),
            (anchor_lang, positive_lang, negative_lang),
            group=group_id,
            source=source.name,
        )
