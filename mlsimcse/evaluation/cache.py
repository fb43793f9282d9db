"""Encode each distinct sentence once per model per run, however many tasks read it.

Tasks share sentences — the English STS-B side appears in every cross-lingual STS-B task, STS-B test and
the geometry task read the same file — and encoding is nearly all of an evaluation's time on CPU. The cache
keys on the exact text, because the encoder's output depends on every character, and it counts how many
sentences tasks asked for against how many were actually encoded, so the saving can be shown.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from mlsimcse.encoder_protocol import SentenceEncoderLike
from mlsimcse.prompts import encoder_prompt


class EmbeddingCache:
    """Embeddings of every sentence seen so far for one encoder.

    Call :meth:`prefetch` with all the sentences a run will need so they go to the encoder in one call
    (one progress bar, full batches), then :meth:`embed` per task. Only :meth:`embed` counts references.
    ``prompt`` / ``prompt_name`` choose the prompt as ``encode`` does (default: the model's own); the text
    applied is :attr:`prompt`, fixed for the cache's life since every cached vector was encoded with it.
    """

    def __init__(
        self,
        encoder: SentenceEncoderLike,
        *,
        batch_size: int = 64,
        show_progress_bar: bool | None = None,
        encode_kwargs: dict[str, Any] | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
    ):
        self.encoder = encoder
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.encode_kwargs = dict(encode_kwargs or {})
        self.prompt = encoder_prompt(encoder, prompt_name, prompt)
        if self.prompt or hasattr(encoder, "default_prompt_name"):  # pass it resolved: exactly what is recorded
            self.encode_kwargs["prompt"] = self.prompt
        self.sentences_referenced = 0
        self.sentences_encoded = 0
        self._row_of: dict[str, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None

    def prefetch(self, sentences: Iterable[str]) -> None:
        """Encode, in one encoder call, those of ``sentences`` not cached yet."""
        missing = [text for text in dict.fromkeys(sentences) if text not in self._row_of]
        if not missing:
            return
        vectors = np.asarray(
            self.encoder.encode(
                missing, batch_size=self.batch_size, show_progress_bar=self.show_progress_bar, **self.encode_kwargs
            ),
            dtype=np.float32,
        )
        if vectors.ndim != 2 or vectors.shape[0] != len(missing):
            raise RuntimeError(f"encoder returned shape {vectors.shape} for {len(missing)} sentences")
        first_row = len(self._row_of)
        self._row_of.update((text, first_row + offset) for offset, text in enumerate(missing))
        self._blocks.append(vectors)
        self.sentences_encoded += len(missing)

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        """Embeddings of ``sentences`` in order, as float32 rows; encodes whatever is not cached yet."""
        if not sentences:
            raise ValueError("nothing to embed")
        self.sentences_referenced += len(sentences)
        self.prefetch(sentences)
        if self._blocks:
            self._matrix = np.concatenate(self._blocks if self._matrix is None else [self._matrix, *self._blocks])
            self._blocks = []
        rows = np.fromiter((self._row_of[text] for text in sentences), dtype=np.int64, count=len(sentences))
        return self._matrix[rows]

    def stats(self) -> dict[str, int]:
        """Sentences tasks asked for, and sentences the encoder actually saw."""
        return {"sentences_referenced": self.sentences_referenced, "sentences_encoded": self.sentences_encoded}
