"""What a mining run is configured with — scoring and output, encoding and cache, the model to load.

The encoder it takes is any :class:`~mlsimcse.encoder_protocol.SentenceEncoderLike`, as ``eval`` does.

The options are plain values checked on construction, shared by the one-process ``mine`` and the split
jobs, so a bad setting is refused before any file is read or any model loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlsimcse.choices import DTYPE_PRECISIONS, EMITS
from mlsimcse.encoder_protocol import SentenceEncoderLike
from mlsimcse.errors import InputError, check_at_least_one
from mlsimcse.mining.cache import SHARD_ROWS, default_cache_root
from mlsimcse.mining.margin import MinedPairs, check_scoring


@dataclass(frozen=True)
class ScoringOptions:
    """How neighbours become the written pairs: margin, retrieval mode, one-to-one, filters, row format."""

    k: int = 4
    margin: str = "ratio"
    mode: str = "max"
    greedy: bool = False
    threshold: float | None = None
    top_fraction: float | None = None
    emit: str = "text"

    def __post_init__(self) -> None:
        check_scoring(self.margin, self.mode)
        if self.k < 1:
            raise InputError(f"k must be at least 1, got {self.k}")
        if self.emit not in EMITS:
            raise InputError(f"unknown output form {self.emit!r}; choose one of {', '.join(EMITS)}")
        if self.top_fraction is not None and not 0.0 < self.top_fraction <= 1.0:
            raise InputError(f"top fraction must be in (0, 1], got {self.top_fraction}")

    def select(self, pairs: MinedPairs) -> MinedPairs:
        """The pairs passing the threshold, then the best fraction of those."""
        if self.threshold is not None:
            pairs = pairs.above(self.threshold)
        if self.top_fraction is not None:
            pairs = pairs.top_fraction(self.top_fraction)
        return pairs


@dataclass(frozen=True)
class EncodeOptions:
    """How sentences are encoded and cached; none of these change the mined pairs except ``dtype`` and
    ``precision`` (``auto`` is resolved here, for the device the encoding will run on, so the cache keys on what
    actually ran)."""

    cache_dir: Path | None = None
    batch_size: int = 64
    shard_rows: int = SHARD_ROWS
    device: str | None = None
    dtype: str | None = None
    progress: bool = True
    precision: str | None = None

    def __post_init__(self) -> None:
        check_at_least_one(batch_size=self.batch_size, shard_rows=self.shard_rows)
        if self.precision is not None:
            object.__setattr__(self, "precision", self._resolved_precision())
        if self.cache_dir is not None and Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise InputError("the embedding cache must be a folder, and this is a file", path=self.cache_dir)

    def root(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_root()

    @property
    def cache_dtype(self) -> str | None:
        """What the embedding cache keys the compute precision on, under the dtype names it used before
        ``precision`` existed (``float32``, ``bfloat16``, ``float16``; ``int8`` as is), so a precision and the
        dtype that means the same share a cache, and older caches still serve."""
        if self.precision is None:
            return self.dtype
        return next((dtype for dtype, precision in DTYPE_PRECISIONS.items() if precision == self.precision),
                    self.precision)

    def _resolved_precision(self) -> str:
        import torch

        from mlsimcse.encoder import resolve_dtype
        from mlsimcse.precision import resolve_precision

        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return resolve_precision(self.precision, resolve_dtype(self.dtype), device)


@dataclass(frozen=True)
class ModelSpec:
    """A model to load only once the corpora have been read, so bad input fails before a slow load."""

    name_or_path: str
    pooling: str | None = None
    max_length: int | None = None

    def load(self) -> SentenceEncoderLike:
        from mlsimcse.encoder import SentenceEncoder

        return SentenceEncoder.from_pretrained(self.name_or_path, pooling=self.pooling, max_length=self.max_length)


def as_encoder(model: SentenceEncoderLike | ModelSpec | str) -> SentenceEncoderLike:
    """An encoder object as is; a model name or spec loaded."""
    if isinstance(model, str):
        model = ModelSpec(model)
    return model.load() if isinstance(model, ModelSpec) else model
