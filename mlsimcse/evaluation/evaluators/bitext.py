"""BUCC bitext-mining metric: margin-mined pairs, a threshold tuned for F1, then precision/recall/F1.

The protocol is BUCC 2018's as Artetxe & Schwenk (2019) run it: mine over the distinct sentences of each
side with the ratio margin (k=4), candidates from forward and backward nearest neighbours ("max"), kept
one-to-one best-first; expand each mined sentence pair to every id pair carrying those texts; choose the
score threshold that maximises F1 on one split's gold and apply it to another split. Margin scoring itself
is the mining package's (:func:`mlsimcse.mining.margin.mine_candidates`), so evaluation and mining cannot
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mlsimcse.evaluation.evaluators.vectors import unit_rows
from mlsimcse.mining.margin import mine_candidates

MARGIN_K = 4


@dataclass(frozen=True)
class DistinctSentences:
    """The distinct texts of one side, and for each the ids that carry it."""

    texts: list[str]
    ids_of_text: list[list[str]]


@dataclass(frozen=True)
class IdCandidates:
    """Mined (source id, target id) pairs with margin scores, best first, and whether each is gold."""

    pairs: list[tuple[str, str]]
    scores: np.ndarray
    correct: np.ndarray


def distinct_sentences(ids: Sequence[str], sentences: Sequence[str]) -> DistinctSentences:
    """Group ids by identical text, keeping first-seen order."""
    ids_of_text: dict[str, list[str]] = {}
    for sentence_id, text in zip(ids, sentences):
        ids_of_text.setdefault(text, []).append(sentence_id)
    return DistinctSentences(list(ids_of_text), list(ids_of_text.values()))


def mine_id_candidates(
    source: DistinctSentences,
    target: DistinctSentences,
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    gold: frozenset[tuple[str, str]],
) -> IdCandidates:
    """Margin-mine the distinct texts (rows of the embeddings) and expand the pairs to ids.

    Evaluation sets are small, so the nearest-neighbour search runs without progress bars.
    """
    mined = mine_candidates(
        unit_rows(source_embeddings).astype(np.float32),
        unit_rows(target_embeddings).astype(np.float32),
        k=MARGIN_K,
        margin="ratio",
        mode="max",
        greedy=True,
        progress=False,
    )
    pairs: list[tuple[str, str]] = []
    scores: list[float] = []
    for source_row, target_row, score in zip(mined.src.tolist(), mined.tgt.tolist(), mined.score.tolist()):
        for source_id in source.ids_of_text[source_row]:
            for target_id in target.ids_of_text[target_row]:
                pairs.append((source_id, target_id))
                scores.append(score)
    correct = np.fromiter((pair in gold for pair in pairs), dtype=bool, count=len(pairs))
    return IdCandidates(pairs, np.asarray(scores, dtype=np.float64), correct)


def best_f1_threshold(candidates: IdCandidates, gold_count: int) -> tuple[float, float]:
    """(threshold, F1 ×100) of the cut that maximises F1; the threshold lies midway to the next lower score.

    Only cuts between distinct scores are considered, so applying the threshold selects exactly the
    candidates the F1 was computed on.
    """
    scores = candidates.scores
    if len(scores) == 0:
        return float("inf"), 0.0
    predicted = np.arange(1, len(scores) + 1)
    f1 = 2.0 * np.cumsum(candidates.correct) / (predicted + gold_count)
    cut_allowed = np.append(scores[:-1] > scores[1:], True)
    best = int(np.argmax(np.where(cut_allowed, f1, -1.0)))
    threshold = scores[best] if best + 1 == len(scores) else (scores[best] + scores[best + 1]) / 2.0
    return float(threshold), float(f1[best]) * 100.0


def precision_recall_f1(candidates: IdCandidates, gold_count: int, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 ×100 of the candidates scoring at least ``threshold``."""
    selected = candidates.scores >= threshold
    predicted = int(selected.sum())
    correct = int(candidates.correct[selected].sum())
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold_count
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"precision": precision * 100.0, "recall": recall * 100.0, "f1": f1 * 100.0}

