"""Cached contrastive loss (GradCache, Gao et al. 2021): a large batch's negatives in a small batch's memory.

In-batch negatives make a contrastive loss depend on every embedding of the batch at once, so gradient
accumulation cannot split the batch without dropping negatives. The loss itself is cheap, though; what costs
memory is the encoder's activations. GradCache therefore runs in three passes:

1. embed the batch in chunks of ``mini_batch_size`` texts *without* autograd, keeping only the embeddings;
2. compute the full-batch loss on those embeddings and its gradient with respect to each embedding;
3. re-embed each chunk *with* autograd and back-propagate the cached embedding gradient through it.

Peak activation memory is one chunk's, yet the parameter gradient is exactly the full batch's, provided the
second forward of a chunk is the same function as the first. Dropout breaks that unless its random masks are
replayed, and unsupervised SimCSE lives on dropout (its positive is the sentence's second dropout pass), so
each chunk's generator state is recorded before pass 1 and restored before pass 3.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from mlsimcse.training.batches import TokenizedBatch
    from mlsimcse.training.step import TrainingStep


@dataclass(frozen=True)
class RngSnapshot:
    """Generator states dropout draws from: the CPU's and, when training on an accelerator, that device's."""

    device: torch.device
    cpu_state: torch.Tensor
    device_state: torch.Tensor | None

    @classmethod
    def take(cls, device: torch.device) -> "RngSnapshot":
        module = None if device.type == "cpu" else torch.get_device_module(device)
        return cls(device, torch.get_rng_state(), None if module is None else module.get_rng_state(device))

    def restore(self) -> None:
        torch.set_rng_state(self.cpu_state)
        if self.device_state is not None:
            torch.get_device_module(self.device).set_rng_state(self.device_state, self.device)


@dataclass
class _Chunk:
    """One mini-batch of one column: its tokens, the generator state its first pass saw, its embeddings."""

    column: int
    features: dict[str, torch.Tensor]
    rng: RngSnapshot
    embeddings: torch.Tensor


def cached_loss(step: "TrainingStep", batch: "TokenizedBatch") -> tuple[torch.Tensor, Callable[[], None]]:
    """The full-batch loss (detached) and a callable that adds its parameter gradients, chunk by chunk.

    ``step`` embeds and scores exactly as its plain form does, from the same tokens; only the chunking differs.
    Each mini-batch is cut to its own longest row, and within it rows still run length-sorted under the step's
    token budget: less padding, same vectors.
    """
    accelerator, size, rows = step.accelerator, step.shape.mini_batch_size, len(batch.examples)
    chunks = []
    with torch.no_grad():
        for index in range(len(batch.columns)):
            for start in range(0, rows, size):
                features = step.to_device(batch.rows(index, start, min(start + size, rows)))
                rng = RngSnapshot.take(accelerator.device)
                chunks.append(_Chunk(index, features, rng, step.embed(features)))
        targets = step.targets(batch.objective, batch.columns)

    columns = len(batch.columns)
    cached = [torch.cat([c.embeddings for c in chunks if c.column == i]).requires_grad_() for i in range(columns)]
    loss = step.loss(batch, cached, targets)
    gradients = torch.autograd.grad(loss, cached)
    chunk_gradients = [grad for column_grad in gradients for grad in column_grad.split(size)]

    def backward() -> None:
        """Replay each chunk's forward under its first-pass generator state and push its cached gradient."""
        for position, (chunk, gradient) in enumerate(zip(chunks, chunk_gradients)):
            last = position == len(chunks) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(step.model):
                chunk.rng.restore()
                accelerator.backward((step.embed(chunk.features) * gradient).sum())

    return loss.detach(), backward
