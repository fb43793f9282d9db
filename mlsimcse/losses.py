"""Contrastive losses over sentence embeddings.

:class:`InfoNCELoss` is SimCSE's objective in one configurable module: anchors are scored against every
candidate in the (global) batch by cosine similarity / temperature, and cross-entropy pulls each anchor to its
own positive. Inputs, in order:

* ``anchors`` — ``[B, d]``;
* ``positives`` — ``[B, d]``, row ``i`` is anchor ``i``'s positive (its dropout twin, entailment or translation);
* ``hard_negatives`` — optional ``[B, d]``, row ``i`` is anchor ``i``'s hard negative (NLI contradiction);
* ``groups`` — optional ``[B]`` int64 ids; a candidate sharing the anchor's group that is not the anchor's own
  positive or hard negative is a false negative and is removed from the softmax.

With ``temperature = 1 / scale`` and no options it equals sentence-transformers'
``MultipleNegativesRankingLoss``; ``symmetric=True`` adds the positive -> anchor direction, as
``MultipleNegativesSymmetricRankingLoss`` does. :class:`DistillationLoss` keeps a student close to a frozen
teacher (Reimers & Gurevych 2020). :class:`CoSENTLoss` learns from graded pairs (STS gold scores).
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mlsimcse.distributed import all_gather_no_grad, all_gather_with_grad, rank_and_world


def group_ids(names: Iterable[str | None], fallback: Iterable[str]) -> torch.Tensor:
    """Stable int64 ids for group names (the same on every process); unnamed examples use ``fallback`` text."""
    ids = []
    for name, text in zip(names, fallback):
        key = name if name is not None else "text:" + " ".join(text.casefold().split())
        ids.append(int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True))
    return torch.tensor(ids, dtype=torch.long)


class InfoNCELoss(nn.Module):
    """In-batch InfoNCE with hard negatives, additive margin, false-negative masking and cross-process negatives.

    Args:
        temperature: softmax temperature on cosine similarity (SimCSE: 0.05, i.e. scale 20).
        symmetric: also score each positive against all anchors and average both directions.
        hard_negative_weight: added to the logit of each anchor's own hard negative (SimCSE's ``hard_negative_weight``;
            0 = plain; ``log(w)`` reproduces its weight ``w`` on the exponentiated similarity).
        margin: subtracted from the positive's cosine before scaling (LaBSE's additive-margin softmax).
        gather: under multi-process training, use every process's candidates as negatives.
    """

    def __init__(self, temperature: float = 0.05, *, symmetric: bool = False, hard_negative_weight: float = 0.0,
                 margin: float = 0.0, gather: bool = True):
        super().__init__()
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.temperature = temperature
        self.symmetric = symmetric
        self.hard_negative_weight = hard_negative_weight
        self.margin = margin
        self.gather = gather

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor, hard_negatives: torch.Tensor | None = None,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        batch = anchors.size(0)
        rank, _ = rank_and_world() if self.gather else (0, 1)
        gather = all_gather_with_grad if self.gather else (lambda t: t)
        all_anchors, all_positives = gather(anchors), gather(positives)
        global_batch = all_positives.size(0)
        local = torch.arange(batch, device=anchors.device) + rank * batch  # this process's rows in gathered order
        rows = torch.arange(batch, device=anchors.device)

        candidates = [all_positives] + ([gather(hard_negatives)] if hard_negatives is not None else [])
        logits = _cosine(anchors, torch.cat(candidates, dim=0))  # positives first, then hard negatives
        logits[rows, local] -= self.margin
        logits = logits / self.temperature
        if hard_negatives is not None and self.hard_negative_weight:
            logits[rows, local + global_batch] += self.hard_negative_weight

        all_groups = None
        if groups is not None:
            groups = groups.to(anchors.device)
            all_groups = all_gather_no_grad(groups) if self.gather else groups
            same = groups[:, None] == all_groups[None, :]  # [B, global]
            same[rows, local] = False  # keep the anchor's own candidates
            logits = logits.masked_fill(same.repeat(1, len(candidates)), float("-inf"))
        loss = F.cross_entropy(logits, local)

        if self.symmetric:
            back = _cosine(positives, all_anchors)
            back[rows, local] -= self.margin
            back = back / self.temperature
            if all_groups is not None:
                back = back.masked_fill(same, float("-inf"))
            loss = (loss + F.cross_entropy(back, local)) / 2
        return loss


DISTILL_MODES = ("mse", "contrastive", "similarity", "translation")
"""The terms :class:`DistillationLoss` can sum; the config checks ``loss.distill_mode`` against them."""


def distill_terms(mode: str) -> tuple[str, ...]:
    """The terms of a distill mode such as ``contrastive+translation``; ValueError if one is unknown or repeated."""
    terms = tuple(mode.split("+"))
    unknown = [term for term in terms if term not in DISTILL_MODES]
    if unknown or len(set(terms)) != len(terms):
        raise ValueError(f"unknown or repeated distillation mode in {mode!r}; "
                         f"use one of {', '.join(DISTILL_MODES)} or several joined by '+'")
    return terms


class DistillationLoss(nn.Module):
    """Student embeddings pulled onto a frozen teacher's (multilingual knowledge distillation).

    Inputs: ``columns``, the student's ``[B, d]`` embeddings of each text column (for translation pairs: the
    English side, then the translation), ``teacher``, the teacher's ``[B, d]`` embeddings of the first column,
    and optional ``groups`` as for :class:`InfoNCELoss` (the same English sentence twice in a batch is then not a
    negative of itself). ``mode`` names one term or several joined by ``+`` (summed); the teacher terms are
    averaged over the columns:

    - ``mse``: Reimers & Gurevych's regression of each student vector onto its teacher vector;
    - ``contrastive``: InfoNCE between student and teacher vectors in both directions — the student vector must
      single out its own teacher vector among the batch's, and the teacher vector its own student vector —
      rather than match raw values; retrieval is scored both ways (xx -> en and en -> xx), so both are trained;
    - ``similarity``: the student's cosine similarities to the batch's teacher vectors, and among its own vectors,
      regress onto the teacher's similarities among the same targets (squared error summed over a row, averaged
      over rows). It hands down graded similarity — how close *related* sentences are, which STS scores — where
      ``contrastive`` only asks that the translation win;
    - ``translation``: symmetric InfoNCE between the student's first column and each other column, the
      translation pair itself with no teacher in between: the direct signal for bitext retrieval. Alone it
      would move the English side too (and forget); next to the teacher terms English stays where it was.

    Teacher terms use this process's batch only; ``translation`` gathers other processes' candidates when
    ``gather`` is on, like the ``parallel`` objective.
    """

    def __init__(self, mode: str = "mse", temperature: float = 0.05, *, gather: bool = True):
        super().__init__()
        self.terms = distill_terms(mode)
        self.contrastive = InfoNCELoss(temperature, symmetric=True, gather=False)
        self.translation = InfoNCELoss(temperature, symmetric=True, gather=gather)

    def forward(self, columns: Sequence[torch.Tensor], teacher: torch.Tensor,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        teacher = teacher.to(columns[0].dtype)
        total = sum(self._teacher_terms(student, teacher, groups) for student in columns) / len(columns)
        if "translation" in self.terms and len(columns) > 1:
            total = total + sum(self.translation(columns[0], other, groups=groups)
                                for other in columns[1:]) / (len(columns) - 1)
        return total

    def _teacher_terms(self, student: torch.Tensor, teacher: torch.Tensor,
                       groups: torch.Tensor | None) -> torch.Tensor:
        total = student.new_zeros(())
        if "mse" in self.terms:
            total = total + F.mse_loss(student, teacher)
        if "contrastive" in self.terms:
            total = total + self.contrastive(student, teacher, groups=groups)
        if "similarity" in self.terms:
            target = _cosine(teacher, teacher)
            total = total + ((_cosine(student, teacher) - target) ** 2).sum(dim=1).mean()
            total = total + ((_cosine(student, student) - target) ** 2).sum(dim=1).mean()
        return total


class CoSENTLoss(nn.Module):
    """CoSENT (Su 2022): every pair of pairs in the batch whose gold scores are ordered is a ranking constraint.

    Inputs: ``first``, ``second`` (``[B, d]``, row ``i`` is pair ``i``) and ``scores`` (``[B]``, any scale).
    With ``c = cos(first_i, second_i) / temperature``, the loss is ``log(1 + sum exp(c_j - c_i))`` over all
    ``(i, j)`` with ``scores_i > scores_j``. Only the order of the scores counts, which is what Spearman
    correlation, the STS metric, rewards: a cosine regression (CosineSimilarityLoss) would also pull every
    cosine onto an absolute target the model has no reason to match. With ``temperature = 1 / scale`` it equals
    sentence-transformers' ``CoSENTLoss`` (scale 20 there = temperature 0.05, SimCSE's). The constraints are
    within this process's batch.
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.temperature = temperature

    def forward(self, first: torch.Tensor, second: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cosines = F.cosine_similarity(first, second, dim=-1) / self.temperature
        scores = scores.to(cosines.device)
        ordered = scores[:, None] > scores[None, :]  # [i, j]: pair i should score above pair j
        violations = (cosines[None, :] - cosines[:, None])[ordered]
        return torch.logsumexp(torch.cat([violations.new_zeros(1), violations]), dim=0)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
