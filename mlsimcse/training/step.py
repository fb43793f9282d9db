"""One training step, built once per run: a tokenised batch in, its loss and the backward that applies it out.

A step takes a batch whose columns are already tokens (:mod:`~mlsimcse.training.batches`, which tokenises
ahead of the step), moves them to the training device, embeds them, asks the teacher for targets when the
objective distils, and scores the embeddings with the objective's loss. Two forms share that featurisation:
``plain`` embeds every column in one forward and keeps the autograd graph; ``cached`` (GradCache,
:mod:`~mlsimcse.training.gradcache`) embeds in mini-batches without a graph and replays them for the backward,
so a large batch's negatives fit a small batch's memory. Both hand back the loss detached and the
backward as a callable, GradCache's shape (its backward is a pass of its own), so a caller can look at the loss
before any gradient exists. The loop back-propagates every micro-batch and then decides, with one sync for the
whole step, whether the update happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from accelerate import Accelerator

from mlsimcse.config import TrainConfig
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.training.batches import BatchTokenizer, TokenizedBatch
from mlsimcse.training.gradcache import cached_loss
from mlsimcse.training.objectives import ObjectiveLosses, batch_groups, batch_scores
from mlsimcse.training.teacher import FrozenTeacher

StepResult = tuple[torch.Tensor, Callable[[], None]]
"""The step's loss (detached) and the callable that back-propagates it into the parameters' gradients."""


@dataclass(frozen=True)
class StepShape:
    """How a step cuts its work: truncation, GradCache mini-batches, and the forward's row and token chunks."""

    max_length: int | None
    mini_batch_size: int | None = None
    chunk_size: int | None = None
    chunk_tokens: int | None = None

    @classmethod
    def of(cls, config: TrainConfig) -> "StepShape":
        return cls(config.model.max_length, config.mini_batch_size, config.forward_chunk_size,
                   config.forward_chunk_tokens)


class TrainingStep:
    """The run's step. ``model`` is the prepared (possibly DDP-wrapped) encoder; ``encoder`` the bare one.

    The forward must go through ``model`` so distributed wrappers see it. :attr:`tokenize` turns examples into
    the batches the step takes, at the training length, with ``encoder``'s tokenizer.
    """

    def __init__(self, model: torch.nn.Module, encoder: SentenceEncoder, losses: ObjectiveLosses,
                 teacher: FrozenTeacher | None, accelerator: Accelerator, shape: StepShape):
        self.model, self.encoder, self.losses, self.teacher = model, encoder, losses, teacher
        self.accelerator, self.shape = accelerator, shape
        self.tokenize = BatchTokenizer(encoder.tokenizer, shape.max_length or encoder.settings.max_length)

    def __call__(self, batch: TokenizedBatch) -> StepResult:
        return self.cached(batch) if self.shape.mini_batch_size else self.plain(batch)

    def to_device(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: values.to(self.accelerator.device, non_blocking=True) for name, values in features.items()}

    def embed(self, features: dict[str, torch.Tensor], chunk_size: int | None = None) -> torch.Tensor:
        """Float32 sentence vectors (under the run's mixed precision), rows run in length-sorted chunks."""
        with self.accelerator.autocast():
            return self.model(features, chunk_size=chunk_size, chunk_tokens=self.shape.chunk_tokens).float()

    def targets(self, objective: str, columns: list[list[str]]) -> torch.Tensor | None:
        """The teacher's vectors of the first column, for the objective that distils; nothing otherwise."""
        return self.teacher(columns[0]) if objective == "distill" else None

    def loss(self, batch: TokenizedBatch, embeddings: list[torch.Tensor],
             targets: torch.Tensor | None) -> torch.Tensor:
        return self.losses(batch.objective, embeddings, batch_groups(batch.examples), targets,
                           batch_scores(batch.examples))

    def plain(self, batch: TokenizedBatch) -> StepResult:
        """Every column in one forward; the loss's own graph carries the backward."""
        features = self.to_device(batch.features)
        embeddings = self.embed(features, chunk_size=self.shape.chunk_size).split(len(batch.examples))
        loss = self.loss(batch, list(embeddings), self.targets(batch.objective, batch.columns))
        return loss.detach(), lambda: self.accelerator.backward(loss)

    def cached(self, batch: TokenizedBatch) -> StepResult:
        """The full batch's loss and gradient, embedding ``mini_batch_size`` texts at a time."""
        return cached_loss(self, batch)
