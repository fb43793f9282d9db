"""Embedding-space geometry: alignment and uniformity (Wang & Isola, 2020) and anisotropy.

SimCSE explains its gains with these two numbers: alignment, the expected squared distance between the
unit vectors of positive pairs (lower is better), and uniformity, the log of the mean Gaussian potential
exp(-2·distance²) over pairs of distinct sentences (lower is more uniform). Anisotropy, the mean cosine
between two different random sentences, shows the "narrow cone" that contrastive training widens. All
three are computed exactly over every pair rather than sampled, so they do not change between runs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from mlsimcse.evaluation.evaluators.vectors import unit_rows
from mlsimcse.row_chunks import row_chunks

UNIFORMITY_T = 2.0
ALIGNMENT_ALPHA = 2.0
ROW_CHUNK = 1024


def alignment(first: np.ndarray, second: np.ndarray, alpha: float = ALIGNMENT_ALPHA) -> float:
    """Mean ||f(x) - f(y)||^alpha over the positive pairs (rows), on unit vectors."""
    distances = np.linalg.norm(unit_rows(first) - unit_rows(second), axis=1)
    return float(np.mean(distances**alpha))


def uniformity(vectors: np.ndarray, t: float = UNIFORMITY_T) -> float:
    """log mean exp(-t·||f(x) - f(y)||²) over all pairs of distinct rows, on unit vectors."""
    unit = unit_rows(vectors)
    count = len(unit)
    if count < 2:
        raise ValueError("uniformity needs at least two sentences")
    partial_logs = []
    for start, stop in row_chunks(count, ROW_CHUNK):
        squared = np.maximum(2.0 - 2.0 * (unit[start:stop] @ unit.T), 0.0)
        upper = np.arange(count)[None, :] > np.arange(start, stop)[:, None]
        partial_logs.append(logsumexp(-t * squared[upper]) if upper.any() else -np.inf)
    pair_count = count * (count - 1) / 2
    return float(logsumexp(partial_logs) - np.log(pair_count))


def anisotropy(vectors: np.ndarray) -> float:
    """Mean cosine between two different rows: (|Σu|² - Σ|u|²) / (n(n-1)) for unit rows u."""
    unit = unit_rows(vectors)
    count = len(unit)
    if count < 2:
        raise ValueError("anisotropy needs at least two sentences")
    total = unit.sum(axis=0)
    return float((total @ total - np.einsum("ij,ij->", unit, unit)) / (count * (count - 1)))
