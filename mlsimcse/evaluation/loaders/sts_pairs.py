"""The shape every STS loader returns: sentence pairs with gold similarity scores.

Pooled benchmarks (SentEval's STS12-16) are several subsets evaluated as one set of rows; the subset
boundaries travel with the pairs so per-subset numbers can be reported beside the pooled one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.evaluation.loaders.origin import DataOrigin
from mlsimcse.evaluation.loaders.text_files import parse_score, require_text


@dataclass(frozen=True)
class STSPairs:
    """Row i: ``sentences1[i]`` and ``sentences2[i]`` scored ``gold[i]``.

    ``subsets`` lists (subset name, row count) in row order when the set pools several subsets;
    ``notes`` carries what a reader of the number should know (rows dropped, subsets missing).
    """

    sentences1: list[str]
    sentences2: list[str]
    gold: np.ndarray
    origin: DataOrigin
    subsets: tuple[tuple[str, int], ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.sentences1) == len(self.sentences2) == len(self.gold)):
            raise ValueError("sentences1, sentences2 and gold differ in length")

    def sentences(self) -> list[str]:
        return self.sentences1 + self.sentences2


def pairs_from_hub_rows(rows: Sequence[tuple[Any, ...]], origin: DataOrigin) -> STSPairs:
    """Validate (sentence1, sentence2, score) rows read from the Hub into :class:`STSPairs`."""
    where = origin.hub or "Hub dataset"
    sentences1, sentences2, gold = [], [], []
    for row_no, (first, second, score) in enumerate(rows, start=1):
        sentences1.append(require_text(str(first), what="sentence1", path=where, line=row_no))
        sentences2.append(require_text(str(second), what="sentence2", path=where, line=row_no))
        gold.append(parse_score(str(score), path=where, line=row_no))
    return STSPairs(sentences1, sentences2, np.asarray(gold, dtype=np.float64), origin)


def require_pairs(count: int, *, path: Path) -> None:
    """An STS set with no scored pair cannot give a correlation."""
    if count == 0:
        raise InputError("no scored sentence pairs", path=path)
