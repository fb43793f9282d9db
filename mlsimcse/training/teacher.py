"""The frozen teacher of the ``distill`` objective, which remembers what it has already answered.

A frozen teacher in eval mode maps a text to the same vector for the whole run, and translation-pair data
repeats its English side once per language (an STS-B sentence comes with nine translations), so most of the
teacher's forward passes after the first few hundred steps would recompute a vector it has already produced.
Keeping those vectors costs 4 bytes per dimension per sentence (1.5 KiB for MiniLM) and takes the teacher's
forward off most steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from mlsimcse.encoder import SentenceEncoder

if TYPE_CHECKING:
    from mlsimcse.config import TrainConfig

DEFAULT_CACHE_BYTES = 256 * 2**20


class FrozenTeacher:
    """Target embeddings for texts, computed once each (first in, first out beyond ``cache_bytes``).

    Args:
        encoder: the teacher; it is frozen and put in eval mode here.
        max_length: truncation for the teacher's inputs (the training limit, as for the student).
        chunk_size: forward at most this many texts at a time (``forward_chunk_size``), or all at once.
        chunk_tokens: ... and at most this many padded tokens (``forward_chunk_tokens``).
        cache_bytes: memory for remembered vectors; 0 turns remembering off.
    """

    def __init__(self, encoder: SentenceEncoder, max_length: int | None, chunk_size: int | None = None,
                 chunk_tokens: int | None = None, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.encoder = encoder.requires_grad_(False).eval()
        self.max_length = max_length
        self.chunk_size = chunk_size
        self.chunk_tokens = chunk_tokens
        self.capacity = cache_bytes // (4 * encoder.embedding_dim)
        self.requested = 0
        self.computed = 0
        self._vectors: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """float32 ``[len(texts), dim]`` on the teacher's device, without gradients."""
        self.requested += len(texts)
        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        fresh = dict(zip(missing, self._forward(missing))) if missing else {}
        self.computed += len(missing)
        rows = torch.stack([fresh[text] if text in fresh else self._vectors[text] for text in texts])
        for text, vector in fresh.items():
            self._remember(text, vector)
        return rows

    @property
    def hit_rate(self) -> float:
        """Share of requested texts answered without a forward pass."""
        return 1.0 - self.computed / self.requested if self.requested else 0.0

    def _forward(self, texts: list[str]) -> torch.Tensor:
        with torch.no_grad():
            features = {k: v.to(self.encoder.device) for k, v in self.encoder.tokenize(texts, self.max_length).items()}
            return self.encoder(features, chunk_size=self.chunk_size, chunk_tokens=self.chunk_tokens).float()

    def _remember(self, text: str, vector: torch.Tensor) -> None:
        if self.capacity <= 0:
            return
        if len(self._vectors) >= self.capacity:
            del self._vectors[next(iter(self._vectors))]
        self._vectors[text] = vector.clone()  # a clone, so the batch tensor it came from can be freed


def run_teacher(config: TrainConfig, student: SentenceEncoder, sampler, device) -> FrozenTeacher | None:
    """A frozen copy of the starting model (or ``loss.distill_teacher``) when any source is ``distill``."""
    if "distill" not in sampler.objectives:
        return None
    source = config.loss.distill_teacher or config.model.name_or_path
    teacher = SentenceEncoder.from_pretrained(source, student.pooling if source == config.model.name_or_path
                                              else None)
    chunk_size = config.mini_batch_size or config.forward_chunk_size
    return FrozenTeacher(teacher.to(device), config.model.max_length, chunk_size, config.forward_chunk_tokens)
