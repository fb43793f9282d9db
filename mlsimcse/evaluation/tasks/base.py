"""What a task is: data it knows how to load, the protocol it follows, and how it scores embeddings.

Loading and scoring are separate steps so the runner can read every task's data first, hand all their
sentences to the embedding cache in one pass, and only then score — and so the same loaded data can be
scored for several models.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from mlsimcse.evaluation.loaders.origin import DataOrigin

Embed = Callable[[Sequence[str]], np.ndarray]
"""Sentences -> their embeddings, one row each, in order (the embedding cache's ``embed``)."""


class TaskData(Protocol):
    """Loaded data: every sentence a task will ask to embed, and where it came from."""

    origin: DataOrigin

    def sentences(self) -> list[str]: ...


@dataclass(frozen=True)
class Scored:
    """A task's metrics: which one is the headline, all of them, breakdowns, and caveats on the protocol."""

    main_metric: str
    scores: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()


class Task(ABC):
    """A named benchmark: ``load`` reads its data, ``score`` turns embeddings of that data into metrics."""

    name: str
    protocol: str

    @abstractmethod
    def load(self) -> TaskData: ...

    @abstractmethod
    def score(self, data: Any, embed: Embed) -> Scored: ...
