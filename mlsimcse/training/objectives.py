"""What each training objective embeds and how it scores the result.

Every objective is "embed some columns of texts, then compute a loss from the column embeddings". Keeping the
two halves separate lets the plain step and the GradCache step (which embeds in chunks) share one definition.
"""

from __future__ import annotations

from typing import Sequence

import torch

from mlsimcse.config import LossConfig
from mlsimcse.errors import InputError
from mlsimcse.losses import CoSENTLoss, DistillationLoss, InfoNCELoss, group_ids
from mlsimcse.records import Example


def text_columns(objective: str, examples: Sequence[Example]) -> list[list[str]]:
    """Texts to embed, one list per column. ``unsup`` repeats its column: dropout makes the pair."""
    first = [ex.texts[0] for ex in examples]
    if objective == "unsup":
        return [first, first]
    width = len(examples[0].texts)
    if any(len(ex.texts) != width for ex in examples):
        raise InputError(f"a {objective!r} batch mixes examples with different numbers of texts")
    return [[ex.texts[i] for ex in examples] for i in range(width)]


def batch_scores(examples: Sequence[Example]) -> torch.Tensor | None:
    """The gold scores of a ``scored`` batch; nothing for the other objectives."""
    if examples[0].objective != "scored":
        return None
    return torch.tensor([ex.score for ex in examples], dtype=torch.float32)


def batch_groups(examples: Sequence[Example]) -> torch.Tensor:
    """Group ids for false-negative masking; an example without a group is its own normalised first text."""
    return group_ids([ex.group for ex in examples], [ex.texts[0] for ex in examples])


class ObjectiveLosses(torch.nn.Module):
    """Loss per objective; ``distill`` needs the teacher's embeddings of each example's first text, ``scored``
    the batch's gold scores."""

    def __init__(self, config: LossConfig):
        super().__init__()
        common = dict(temperature=config.temperature, margin=config.margin,
                      gather=config.gather_across_processes)
        self.one_way = InfoNCELoss(hard_negative_weight=config.hard_negative_weight, **common)
        self.parallel = InfoNCELoss(symmetric=config.symmetric_parallel, **common)
        self.distill = DistillationLoss(config.distill_mode, temperature=config.temperature,
                                        gather=config.gather_across_processes)
        self.scored = CoSENTLoss(config.temperature)
        self.mask = config.mask_false_negatives
        self.weights = dict(config.objective_weights)

    def forward(self, objective: str, embeddings: list[torch.Tensor], groups: torch.Tensor | None,
                teacher: torch.Tensor | None = None, scores: torch.Tensor | None = None) -> torch.Tensor:
        groups = groups if self.mask else None
        if objective == "unsup":
            loss = self.one_way(embeddings[0], embeddings[1], groups=groups)
        elif objective == "sup":
            loss = self.one_way(embeddings[0], embeddings[1], embeddings[2], groups=groups)
        elif objective == "parallel":
            loss = self.parallel(embeddings[0], embeddings[1], groups=groups)
        elif objective == "distill":
            if teacher is None:
                raise ValueError("the distill objective needs teacher embeddings")
            loss = self.distill(embeddings, teacher, groups=groups)
        elif objective == "scored":
            if scores is None:
                raise ValueError("the scored objective needs the pairs' gold scores")
            loss = self.scored(embeddings[0], embeddings[1], scores)
        else:
            raise InputError(f"unknown objective {objective!r}")
        return loss * self.weights.get(objective, 1.0)
