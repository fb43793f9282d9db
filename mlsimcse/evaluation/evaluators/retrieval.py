"""Translation retrieval accuracy: for each sentence, is its cosine nearest neighbour on the other side
its translation?

A retrieved sentence counts as correct when its text equals the expected translation's text, so a
duplicate sentence is not a miss. This is how sentence-transformers' ``TranslationEvaluator`` and LASER's
text-based Tatoeba scoring count; it matters on Tatoeba, whose English sides repeat short sentences.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mlsimcse.evaluation.evaluators.vectors import unit_rows
from mlsimcse.row_chunks import row_chunks

QUERY_CHUNK = 1024


def nearest_neighbours(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each query's most cosine-similar key (the first one on exact ties)."""
    queries, keys = unit_rows(queries), unit_rows(keys)
    best = np.empty(len(queries), dtype=np.int64)
    for start, stop in row_chunks(len(queries), QUERY_CHUNK):
        best[start:stop] = np.argmax(queries[start:stop] @ keys.T, axis=1)
    return best


def retrieval_accuracy(
    query_embeddings: np.ndarray, key_embeddings: np.ndarray, expected: Sequence[str], keys: Sequence[str]
) -> float:
    """Percentage of queries whose nearest key has the text of ``expected[i]``."""
    found = nearest_neighbours(query_embeddings, key_embeddings)
    hits = sum(keys[index] == want for index, want in zip(found, expected))
    return 100.0 * hits / len(expected)


def translation_accuracies(
    source_embeddings: np.ndarray, target_embeddings: np.ndarray, sources: Sequence[str], targets: Sequence[str]
) -> dict[str, float]:
    """Accuracy % source→target, target→source and their mean, for line-aligned ``sources``/``targets``."""
    forward = retrieval_accuracy(source_embeddings, target_embeddings, targets, targets)
    backward = retrieval_accuracy(target_embeddings, source_embeddings, sources, sources)
    return {"src2tgt": forward, "tgt2src": backward, "mean": (forward + backward) / 2.0}
