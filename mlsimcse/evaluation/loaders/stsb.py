"""STS-B in English and its ten machine translations (``stsb_multi_mt``), mono- and cross-lingual.

Row i is the same pair in every language file, which is what makes cross-lingual STS-B possible: sentence1
from one language's file, sentence2 from another's, scored by the shared gold. Because everything rests on
that alignment, the cross-lingual reader checks that both files carry the same gold score on every row.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.eval_files import STSB, local_path
from mlsimcse.evaluation.loaders.hub import HubTable, load_hub_rows
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs, pairs_from_hub_rows, require_pairs
from mlsimcse.evaluation.loaders.text_files import parse_score, require_text
from mlsimcse.text_lines import iter_lines

STSB_LANGUAGES = ("en", "de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")
STSB_SPLITS = ("test", "dev")


def stsb_path(language: str, split: str) -> Path:
    return local_path(STSB, language=language, split=split)


def stsb_hub_form(language: str, split: str) -> HubTable:
    return HubTable("PhilipMay/stsb_multi_mt", language, split, ("sentence1", "sentence2", "similarity_score"))


def read_stsb(language: str, split: str) -> STSPairs:
    """One language's STS-B split: the local CSV when present, else the Hub copy of the same files."""
    path = stsb_path(language, split)
    if not path.exists():
        rows, origin = load_hub_rows(stsb_hub_form(language, split), local_path=path)
        return pairs_from_hub_rows(rows, origin)
    return _read_stsb_csv(path)


def read_cross_lingual_stsb(language1: str, language2: str, split: str) -> STSPairs:
    """Sentence1 from ``language1``'s file, sentence2 from ``language2``'s, gold shared by the parallel rows."""
    first = read_stsb(language1, split)
    second = read_stsb(language2, split)
    if len(first.gold) != len(second.gold):
        raise InputError(
            f"STS-B {split} files for {language1} and {language2} are not parallel: "
            f"{len(first.gold)} vs {len(second.gold)} rows",
            path=stsb_path(language2, split),
        )
    mismatch = np.flatnonzero(first.gold != second.gold)
    if mismatch.size:
        row = int(mismatch[0])
        raise InputError(
            f"STS-B {split} files for {language1} and {language2} are not parallel: row {row + 1} is scored "
            f"{first.gold[row]} in one and {second.gold[row]} in the other",
            path=stsb_path(language2, split),
            line=row + 1,
        )
    return STSPairs(
        first.sentences1, second.sentences2, first.gold, DataOrigin.combine([first.origin, second.origin])
    )


def _read_stsb_csv(path: Path) -> STSPairs:
    """Headerless excel-quoted CSV rows of sentence1, sentence2, score (CRLF line endings)."""
    reader = csv.reader(iter_lines(path))
    sentences1, sentences2, gold = [], [], []
    for record in reader:
        line = reader.line_num
        if len(record) != 3:
            found = f"found {len(record)}"
            raise InputError(f"expected 3 columns (sentence1, sentence2, score), {found}", path=path, line=line)
        sentences1.append(require_text(record[0], what="sentence1", path=path, line=line))
        sentences2.append(require_text(record[1], what="sentence2", path=path, line=line))
        gold.append(parse_score(record[2], path=path, line=line))
    require_pairs(len(gold), path=path)
    return STSPairs(sentences1, sentences2, np.asarray(gold, dtype=np.float64), DataOrigin.from_files([path]))
