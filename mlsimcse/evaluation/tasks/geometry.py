"""Geometry of the embedding space on STS-B, as the SimCSE paper measures it.

Positive pairs are the STS-B pairs with a gold score above 4 (SimCSE's choice); uniformity and anisotropy
run over the distinct sentences of the same split.
"""

from __future__ import annotations

from mlsimcse.errors import InputError
from mlsimcse.evaluation.evaluators.geometry import alignment, anisotropy, uniformity
from mlsimcse.evaluation.loaders.stsb import read_stsb
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs
from mlsimcse.evaluation.tasks.base import Embed, Scored, Task

POSITIVE_ABOVE = 4.0


class GeometryTask(Task):
    """Alignment and uniformity (raw, lower is better) and anisotropy (mean cosine ×100, lower is better)."""

    def __init__(self, name: str, language: str, split: str = "test"):
        self.name = name
        self.language = language
        self.split = split
        self.protocol = (
            f"Wang & Isola 2020 as in SimCSE, on stsb_multi_mt {language} {split}: alignment = mean squared "
            f"distance of unit vectors over pairs with gold > {POSITIVE_ABOVE:g}; uniformity = log mean "
            "exp(-2 squared distance) over all pairs of distinct sentences; anisotropy = mean cosine x100 "
            "between different sentences"
        )

    def load(self) -> STSPairs:
        return read_stsb(self.language, self.split)

    def score(self, data: STSPairs, embed: Embed) -> Scored:
        positive = data.gold > POSITIVE_ABOVE
        first = [text for text, keep in zip(data.sentences1, positive) if keep]
        second = [text for text, keep in zip(data.sentences2, positive) if keep]
        if not first:
            raise InputError(f"no STS-B {self.language} {self.split} pair has gold above {POSITIVE_ABOVE:g}")
        distinct = list(dict.fromkeys(data.sentences()))
        vectors = embed(distinct)
        scores = {
            "alignment": alignment(embed(first), embed(second)),
            "uniformity": uniformity(vectors),
            "anisotropy": anisotropy(vectors) * 100.0,
        }
        return Scored("anisotropy", scores, {"positive_pairs": len(first), "sentences": len(distinct)})
