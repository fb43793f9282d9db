"""Translation retrieval tasks: LASER Tatoeba per language, and any two line-aligned files."""

from __future__ import annotations

from typing import Callable

from mlsimcse.evaluation.evaluators.retrieval import translation_accuracies
from mlsimcse.evaluation.loaders.parallel import ParallelSet
from mlsimcse.evaluation.tasks.base import Embed, Scored, Task


class TranslationRetrievalTask(Task):
    """Nearest-neighbour accuracy % in both directions; the main score is their mean.

    Score keys name the directions, e.g. ``xx2en`` and ``en2xx`` for Tatoeba (sources are the non-English
    side there), ``src2tgt`` and ``tgt2src`` for user files.
    """

    def __init__(
        self,
        name: str,
        protocol: str,
        read_parallel: Callable[[], ParallelSet],
        *,
        source_label: str,
        target_label: str,
    ):
        self.name = name
        self.protocol = protocol
        self._read_parallel = read_parallel
        self._forward_key = f"{source_label}2{target_label}"
        self._backward_key = f"{target_label}2{source_label}"

    def load(self) -> ParallelSet:
        return self._read_parallel()

    def score(self, data: ParallelSet, embed: Embed) -> Scored:
        accuracy = translation_accuracies(embed(data.sources), embed(data.targets), data.sources, data.targets)
        scores = {
            self._forward_key: accuracy["src2tgt"],
            self._backward_key: accuracy["tgt2src"],
            "mean": accuracy["mean"],
        }
        return Scored("mean", scores, {"pairs": len(data.sources)})
