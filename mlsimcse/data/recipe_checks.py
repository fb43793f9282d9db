"""Whether a recipe source's local and Hub forms can yield what the source says it yields.

:mod:`mlsimcse.data.recipe` reads the YAML into dataclasses; these checks then hold each form against the
source's ``kind`` and ``shape`` (its objective), so a recipe that could only fail half-way through a build,
or silently read the wrong columns, is refused when it is read, naming the source and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlsimcse.errors import InputError
from mlsimcse.records import OBJECTIVE_COLUMNS

if TYPE_CHECKING:
    from mlsimcse.data.recipe import SourceRecipe

LOCAL_FORMATS = {"aligned_text": ("lines", "csv", "tsv"), "nli": ("tsv", "infersent")}
"""Source kind -> the file formats its local form may have."""
INFERSENT_FIELDS = ("premise", "hypothesis", "label")
NLI_ROW_COLUMNS = INFERSENT_FIELDS
SCORE_COLUMN = "score"
"""The Hub column key of a scored source's gold similarity, beside its two sentence columns."""
"""What an NLI source's Hub columns may map instead of a ready triplet: rows grouped like the local files."""


def check_local_form(source: SourceRecipe, where: str, path: Path) -> None:
    """The local form's format, file sets and columns fit the source's kind, languages and objective."""
    local = source.local
    if local.format not in LOCAL_FORMATS[source.kind]:
        raise InputError(f"{where}.local.format must be one of {LOCAL_FORMATS[source.kind]}", path=path)
    if not local.sets:
        raise InputError(f"{where}.local.sets is empty", path=path)
    for file_set in local.sets:
        if local.format == "infersent":
            if not isinstance(file_set, dict) or sorted(file_set) != sorted(INFERSENT_FIELDS):
                raise InputError(f"{where}.local.sets: an infersent set maps {INFERSENT_FIELDS} to files", path=path)
        elif isinstance(file_set, dict):
            unknown = sorted(set(file_set) - set(source.languages))
            if unknown:
                raise InputError(f"{where}.local.sets names language(s) {unknown} not in its languages", path=path)
            if source.pairs_with_pivot and source.pivot not in file_set:
                raise InputError(f"{where}.local.sets: {file_set} lacks the pivot language {source.pivot!r}", path=path)
        elif not isinstance(file_set, str) or "{lang}" not in file_set:
            raise InputError(f"{where}.local.sets: {file_set!r} is neither a {{lang}} template nor a mapping", path=path)
    if local.format in ("csv", "tsv"):
        if local.width is None:
            raise InputError(f"{where}.local.width (fields per row) is required for {local.format}", path=path)
        used = list(local.columns) + [c for c in (local.score_column, local.label_column) if c is not None]
        if any(not 0 <= column < local.width for column in used):
            raise InputError(f"{where}.local: column indexes must lie in [0, {local.width})", path=path)
    if source.shape == "scored" and (local.format == "lines" or len(local.columns) != 2 or local.score_column is None):
        raise InputError(f"{where}.local: scored pairs need columns [sentence1, sentence2] and score_column", path=path)
    if source.kind == "nli" and local.format == "tsv" and (len(local.columns) != 2 or local.label_column is None):
        raise InputError(f"{where}.local: NLI TSV needs columns [premise, hypothesis] and label_column", path=path)


def check_hub_form(source: SourceRecipe, where: str, path: Path) -> None:
    """The Hub form maps exactly the objective's columns, and a multilingual source loads one config per language."""
    wanted = set(OBJECTIVE_COLUMNS[source.shape]) | ({SCORE_COLUMN} if source.shape == "scored" else set())
    if set(source.hub.columns) != wanted and not (source.kind == "nli" and source.hub.nli_rows):
        also = f" (or {list(NLI_ROW_COLUMNS)})" if source.kind == "nli" else ""
        raise InputError(f"{where}.hub.columns must map exactly {sorted(wanted)}{also} to dataset columns", path=path)
    multilingual = len(source.other_languages if source.shape == "parallel" else source.languages) > 1
    if multilingual and "{lang}" not in (source.hub.config or "") and "{lang}" not in str(source.hub.data_files):
        raise InputError(f"{where}.hub: a multilingual source needs {{lang}} in config or data_files", path=path)
