"""What every command needs from a sentence encoder, and how it talks to the two kinds it meets.

``eval``, ``mine`` and the library functions behind them take any object with
``encode(sentences, batch_size=..., show_progress_bar=..., ...)`` that returns one vector per sentence:
mlsimcse's own :class:`~mlsimcse.encoder.SentenceEncoder`, a sentence-transformers ``SentenceTransformer``,
or a user's wrapper. The two families name their options differently (``normalize`` against
``normalize_embeddings``; ``precision`` means a compute precision in one and a quantisation in the other),
so :func:`encode_unit_rows` speaks to each in its own words instead of guessing from the type.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, Sequence

import numpy as np

from mlsimcse.errors import InputError


class SentenceEncoderLike(Protocol):
    """What every command needs from a model: mlsimcse's SentenceEncoder and SentenceTransformer both fit."""

    def encode(self, sentences: list[str], *, batch_size: int, show_progress_bar: bool | None, **kwargs: Any) -> Any:
        ...


def _encode_parameters(encoder: SentenceEncoderLike) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(encoder.encode).parameters)
    except (TypeError, ValueError):  # a builtin or C-level encode: assume it takes mlsimcse's options
        return {"kwargs": inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)}


def takes_sentence_transformers_options(encoder: SentenceEncoderLike) -> bool:
    """Whether ``encode`` speaks sentence-transformers' options (``normalize_embeddings``), not mlsimcse's."""
    parameters = _encode_parameters(encoder)
    return "normalize_embeddings" in parameters and "normalize" not in parameters


def encode_unit_rows(encoder: SentenceEncoderLike, sentences: Sequence[str], *, batch_size: int,
                     device: str | None = None, dtype: str | None = None,
                     precision: str | None = None) -> np.ndarray:
    """L2-normalised float32 vectors of ``sentences``, without a progress bar, from either kind of encoder.

    ``dtype`` and ``precision`` are mlsimcse's compute options; a sentence-transformers model has no such
    options (its ``precision`` quantises instead), so asking for them there is an error rather than ignored.
    """
    if not takes_sentence_transformers_options(encoder):
        extra = {"precision": precision} if precision is not None else {}
        return np.asarray(encoder.encode(list(sentences), batch_size=batch_size, normalize=True, device=device,
                                         dtype=dtype, show_progress_bar=False, **extra), dtype=np.float32)
    if dtype is not None or precision is not None:
        raise InputError("a sentence-transformers model takes no dtype or precision option; load the model "
                         "with mlsimcse (mlsimcse.encoder.SentenceEncoder) to choose one")
    return np.asarray(encoder.encode(list(sentences), batch_size=batch_size, normalize_embeddings=True,
                                     device=device, show_progress_bar=False, convert_to_numpy=True),
                      dtype=np.float32)


def model_name(encoder: SentenceEncoderLike) -> str | None:
    """The name or folder the encoder was loaded from, if it says: ``name_or_path``, else its tokenizer's."""
    name = getattr(encoder, "name_or_path", None) or getattr(getattr(encoder, "tokenizer", None), "name_or_path", None)
    return str(name) if name else None


def embedding_dimension(encoder: SentenceEncoderLike, probe: Sequence[str]) -> int:
    """Width of the encoder's vectors: ``embedding_dim``, sentence-transformers' getter, else one probe encode.

    sentence-transformers 6 calls the getter ``get_embedding_dimension`` (the older name still works, with a
    warning), so the new name is asked first.
    """
    dim = getattr(encoder, "embedding_dim", None)
    for getter in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        if dim is None and callable(getattr(encoder, getter, None)):
            dim = getattr(encoder, getter)()
    if dim is None:
        dim = encode_unit_rows(encoder, list(probe[:1]), batch_size=1).shape[1]
    return int(dim)
