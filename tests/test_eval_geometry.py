"""Alignment, uniformity and anisotropy equal Wang & Isola's torch formulas and a direct mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlsimcse.evaluation.evaluators.geometry import alignment, anisotropy, uniformity


def reference_alignment(x: torch.Tensor, y: torch.Tensor) -> float:
    return (F.normalize(x, dim=1) - F.normalize(y, dim=1)).norm(p=2, dim=1).pow(2).mean().item()


def reference_uniformity(x: torch.Tensor) -> float:
    return torch.pdist(F.normalize(x, dim=1), p=2).pow(2).mul(-2).exp().mean().log().item()


@pytest.fixture()
def vectors():
    rng = np.random.default_rng(0)
    return rng.standard_normal((1500, 12)) + 0.8  # an offset makes the cloud anisotropic, as raw BERT is


def test_alignment_and_uniformity_match_the_paper_formulas(vectors):
    first, second = vectors[:700], vectors[700:1400] * 0.5 + vectors[:700]
    as_tensor = lambda array: torch.from_numpy(array).double()  # noqa: E731
    assert alignment(first, second) == pytest.approx(reference_alignment(as_tensor(first), as_tensor(second)), rel=1e-9)
    assert uniformity(vectors) == pytest.approx(reference_uniformity(as_tensor(vectors)), rel=1e-9)


def test_anisotropy_is_the_mean_cosine_between_different_rows(vectors):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    off_diagonal = cosine[~np.eye(len(unit), dtype=bool)]
    assert anisotropy(vectors) == pytest.approx(off_diagonal.mean(), rel=1e-9)
    assert anisotropy(vectors) > 0.3
    assert abs(anisotropy(vectors - vectors.mean(axis=0))) < 0.01
