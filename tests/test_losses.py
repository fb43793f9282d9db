"""InfoNCE and CoSENT parity with sentence-transformers, false-negative masking, SimCSE weights, margin, distillation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sentence_transformers.sentence_transformer.losses import CoSENTLoss as CoSENTLoss_ST
from sentence_transformers.sentence_transformer.losses import (
    MultipleNegativesRankingLoss,
    MultipleNegativesSymmetricRankingLoss,
)

from mlsimcse.losses import CoSENTLoss, DistillationLoss, InfoNCELoss, group_ids

B, D = 8, 16


def _embeddings(n_columns: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, D, generator=g, dtype=torch.float64).requires_grad_() for _ in range(n_columns)]


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors))


@pytest.mark.parametrize("n_columns", [2, 3])
def test_matches_multiple_negatives_ranking_loss(n_columns):
    embs = _embeddings(n_columns)
    ours = InfoNCELoss(temperature=0.05)(*embs)
    reference = MultipleNegativesRankingLoss(model=None, scale=20.0).compute_loss_from_embeddings(embs, None)
    assert abs(ours.item() - reference.item()) < 1e-6
    for a, b in zip(_grads(ours, embs), _grads(reference, embs)):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-6)


@pytest.mark.parametrize("n_columns", [2, 3])
def test_symmetric_matches_symmetric_ranking_loss(n_columns):
    embs = _embeddings(n_columns, seed=1)
    ours = InfoNCELoss(temperature=0.05, symmetric=True)(*embs)
    with pytest.warns(Warning):
        st_loss = MultipleNegativesSymmetricRankingLoss(model=None, scale=20.0)
    reference = st_loss.compute_loss_from_embeddings(embs, None)
    assert abs(ours.item() - reference.item()) < 1e-6
    for a, b in zip(_grads(ours, embs), _grads(reference, embs)):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-6)


def test_duplicate_sentence_is_masked_as_if_absent():
    anchors, positives = _embeddings(2, seed=2)
    dup_anchors = torch.cat([anchors, anchors[:1]])
    dup_positives = torch.cat([positives, positives[:1]])
    groups = torch.arange(B + 1)
    groups[B] = 0  # the extra row says the same as row 0
    masked = InfoNCELoss()(dup_anchors, dup_positives, groups=groups)
    # Expected: the plain loss with the two false-negative entries (row 0 vs copy, copy vs row 0) removed.
    logits = F.normalize(dup_anchors, dim=-1) @ F.normalize(dup_positives, dim=-1).T / 0.05
    rows = []
    for i in range(B + 1):
        keep = [j for j in range(B + 1) if not {i, j} == {0, B}]
        rows.append(torch.logsumexp(logits[i, keep], 0) - logits[i, i])
    expected = torch.stack(rows).mean()
    assert abs(masked.item() - expected.item()) < 1e-9
    # Row 0 and its copy then score exactly as row 0 did in the batch without the copy.
    single = F.cross_entropy((F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T / 0.05)[:1],
                             torch.zeros(1, dtype=torch.long))
    assert abs((rows[0] - single).item()) < 1e-9 and abs((rows[B] - single).item()) < 1e-9
    unmasked = InfoNCELoss()(dup_anchors, dup_positives)
    assert unmasked.item() > masked.item() + 0.01


def test_masking_keeps_own_hard_negative():
    anchors, positives, negatives = _embeddings(3, seed=3)
    groups = torch.arange(B)
    assert torch.allclose(InfoNCELoss()(anchors, positives, negatives, groups=groups),
                          InfoNCELoss()(anchors, positives, negatives))


def test_hard_negative_weight_matches_simcse_formula():
    anchors, positives, negatives = _embeddings(3, seed=4)
    weight = math.log(2.0)
    ours = InfoNCELoss(hard_negative_weight=weight)(anchors, positives, negatives)
    cos = F.normalize(anchors, dim=-1) @ F.normalize(torch.cat([positives, negatives]), dim=-1).T / 0.05
    bonus = torch.zeros_like(cos)
    bonus[torch.arange(B), B + torch.arange(B)] = weight  # SimCSE adds the weight on the anchor's own negative
    assert abs(ours.item() - F.cross_entropy(cos + bonus, torch.arange(B)).item()) < 1e-9


def test_additive_margin_lowers_only_the_positive_logit():
    anchors, positives = _embeddings(2, seed=5)
    margin = 0.3
    ours = InfoNCELoss(margin=margin)(anchors, positives)
    cos = F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T
    expected = F.cross_entropy((cos - margin * torch.eye(B, dtype=cos.dtype)) / 0.05, torch.arange(B))
    assert abs(ours.item() - expected.item()) < 1e-9
    assert ours.item() > InfoNCELoss()(anchors, positives).item()


def test_group_ids_are_stable_and_fall_back_to_normalised_text():
    ids = group_ids([None, None, "g1", "g1"], ["A  Cat", "a cat", "x", "y"])
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]
    assert torch.equal(ids, group_ids([None, None, "g1", "g1"], ["A  Cat", "a cat", "x", "y"]))


def test_distillation_losses():
    student, teacher = _embeddings(2, seed=6)
    assert DistillationLoss("mse")([teacher], teacher).item() == 0.0
    assert abs(DistillationLoss("mse")([student], teacher).item() - F.mse_loss(student, teacher).item()) < 1e-12
    # teacher terms average over the columns
    two = DistillationLoss("mse")([student, teacher], teacher)
    assert abs(two.item() - F.mse_loss(student, teacher).item() / 2) < 1e-12


def test_contrastive_distillation_is_infonce_both_ways_with_duplicates_masked():
    student, teacher = _embeddings(2, seed=8)
    s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    labels = torch.arange(len(s))
    both_ways = (F.cross_entropy(s @ t.T / 0.05, labels) + F.cross_entropy(t @ s.T / 0.05, labels)) / 2
    assert torch.allclose(DistillationLoss("contrastive")([student], teacher), both_ways)
    # the same English sentence twice in a batch: unmasked, each copy is the other's negative
    teacher = teacher.clone()
    teacher[1] = teacher[0]
    groups = torch.arange(len(teacher))
    groups[1] = groups[0]
    unmasked = DistillationLoss("contrastive")([teacher], teacher)
    masked = DistillationLoss("contrastive")([teacher], teacher, groups=groups)
    assert masked.item() < unmasked.item() - 0.05


def test_translation_term_is_symmetric_infonce_between_first_column_and_the_others():
    english, german, french, teacher = _embeddings(4, seed=9)
    term = DistillationLoss("translation")
    pair = InfoNCELoss(0.05, symmetric=True)(english, german)
    assert torch.allclose(term([english, german], teacher), pair)
    assert torch.allclose(term([english, german, french], teacher),
                          (pair + InfoNCELoss(0.05, symmetric=True)(english, french)) / 2)
    assert term([english], teacher).item() == 0.0  # a single column has no pair


def test_similarity_distillation_matches_hand_formula_and_terms_add():
    student, teacher = _embeddings(2, seed=7)
    assert DistillationLoss("similarity")([teacher], teacher).item() < 1e-10
    s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    target = t @ t.T
    by_hand = ((s @ t.T - target) ** 2).sum(1).mean() + ((s @ s.T - target) ** 2).sum(1).mean()
    assert torch.allclose(DistillationLoss("similarity")([student], teacher), by_hand)
    columns = [student, teacher + 0.1 * student]
    combined = DistillationLoss("contrastive+similarity+mse+translation")(columns, teacher)
    parts = sum(DistillationLoss(mode)(columns, teacher) for mode in ("contrastive", "similarity", "mse", "translation"))
    assert torch.allclose(combined, parts)
    for bad in ("cosine", "mse+mse", "mse+"):
        with pytest.raises(ValueError, match="distillation mode"):
            DistillationLoss(bad)


def test_cosent_matches_sentence_transformers_cosent_loss():
    first, second = _embeddings(2, seed=3)
    scores = torch.tensor([0.0, 1.5, 1.5, 2.0, 3.2, 4.0, 5.0, 0.4], dtype=torch.float64)
    ours = CoSENTLoss(temperature=0.05)(first, second, scores)
    reference = CoSENTLoss_ST(model=None, scale=20.0).compute_loss_from_embeddings([first, second], scores)
    assert abs(ours.item() - reference.item()) < 1e-9
    for a, b in zip(_grads(ours, [first, second]), _grads(reference, [first, second])):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-6)


def test_cosent_is_log_two_for_one_ordered_pair_at_equal_cosines_and_ignores_ties():
    same = F.normalize(torch.ones(2, 4, dtype=torch.float64), dim=-1)
    loss = CoSENTLoss()(same, same, torch.tensor([1.0, 2.0]))
    assert loss.item() == pytest.approx(math.log(2))  # log(1 + exp(0)): one ordered pair, no margin either way
    assert CoSENTLoss()(same, same, torch.tensor([3.0, 3.0])).item() == 0.0  # equal scores: no constraint
