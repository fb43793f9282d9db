"""STS tasks: one class covers STS-B, cross-lingual STS-B, STS17, SentEval's STS12-16 and SICK-R.

They differ only in how their pairs are read; the metric is always Spearman ×100 of cosine similarity over
all scored rows. For pooled sets (STS12-16) that *is* SentEval's "all" aggregation, and per-subset numbers
are reported beside it, never averaged into it.
"""

from __future__ import annotations

from typing import Callable

from mlsimcse.evaluation.evaluators.sts import correlations, pairwise_cosine
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs
from mlsimcse.evaluation.tasks.base import Embed, Scored, Task


class STSTask(Task):
    """Spearman (main) and Pearson ×100 between cosine similarity and gold."""

    def __init__(self, name: str, protocol: str, read_pairs: Callable[[], STSPairs]):
        self.name = name
        self.protocol = protocol
        self._read_pairs = read_pairs

    def load(self) -> STSPairs:
        return self._read_pairs()

    def score(self, data: STSPairs, embed: Embed) -> Scored:
        cosine = pairwise_cosine(embed(data.sentences1), embed(data.sentences2))
        details: dict[str, object] = {"pairs": len(data.gold), **data.notes}
        if data.subsets:
            details["subsets"] = _per_subset(cosine, data)
        caveats = ()
        if data.notes.get("missing_subsets"):
            caveats = (f"INCOMPLETE: subsets absent from the data: {', '.join(data.notes['missing_subsets'])}",)
        return Scored("spearman", correlations(cosine, data.gold), details, caveats)


def _per_subset(cosine, data: STSPairs) -> dict[str, dict[str, float]]:
    """Each subset's own correlations (for reference; the task's score pools all rows)."""
    breakdown: dict[str, dict[str, float]] = {}
    start = 0
    for subset, count in data.subsets:
        rows = slice(start, start + count)
        breakdown[subset] = {**correlations(cosine[rows], data.gold[rows]), "pairs": count}
        start += count
    return breakdown
