"""STS metric: correlation of cosine similarity with gold scores, ×100.

Spearman is the number papers report (SimCSE, Sentence-BERT, MTEB); Pearson comes with it. Both use
scipy's definitions, as sentence-transformers' ``EmbeddingSimilarityEvaluator`` does, so the two agree on
the same embeddings.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from mlsimcse.evaluation.evaluators.vectors import unit_rows


def pairwise_cosine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """cos(first[i], second[i]) for every row i."""
    return np.einsum("ij,ij->i", unit_rows(first), unit_rows(second))


def correlations(predicted: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Spearman and Pearson ×100 between predicted similarities and gold scores."""
    return {
        "spearman": float(spearmanr(gold, predicted)[0]) * 100.0,
        "pearson": float(pearsonr(gold, predicted)[0]) * 100.0,
    }
