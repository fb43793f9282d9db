"""Vector helpers every evaluator shares, computed in float64 so a metric never depends on rounding order."""

from __future__ import annotations

import numpy as np

NORM_FLOOR = 1e-12
"""Zero vectors stay zero instead of becoming NaN, as torch's ``normalize`` does with its epsilon."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, NORM_FLOOR)
