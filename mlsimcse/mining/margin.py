"""Margin-based scoring of translation candidates (Artetxe & Schwenk, 2019), as LASER's bitext miner does it.

Raw cosine is a poor mining score because some sentences ("hubs") are close to everything. The margin
criteria divide (``ratio``) or offset (``distance``) a pair's cosine by how close each side is to its k
nearest neighbours on the other side, so a pair only scores high when it stands out from both
neighbourhoods; ``absolute`` keeps the raw cosine for comparison. The cosine of a candidate is the
similarity its kNN search returned.

Candidate generation follows LASER: every sentence proposes the best-scoring of its k neighbours;
``forward`` keeps the source-side proposals, ``backward`` the target-side ones, ``intersect`` the pairs both
sides propose, and ``max`` the union of forward and backward. ``greedy`` then keeps pairs best-first so no
sentence is used twice; LASER's ``max`` mode and the BUCC protocol are ``mode="max", greedy=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlsimcse.choices import MARGINS, MODES
from mlsimcse.errors import InputError
from mlsimcse.mining.knn import Neighbours, RowSource, SearchConfig, knn_search



@dataclass(frozen=True)
class MinedPairs:
    """Mined pairs as parallel arrays of source row, target row and margin score, best score first."""

    src: np.ndarray
    tgt: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def above(self, threshold: float) -> "MinedPairs":
        """The pairs scoring at least ``threshold``."""
        return self._first(int(np.count_nonzero(self.score >= threshold)))

    def top_fraction(self, fraction: float) -> "MinedPairs":
        """The best ``fraction`` of the pairs (rounded up, so any positive fraction keeps one)."""
        if not 0.0 < fraction <= 1.0:
            raise InputError(f"top fraction must be in (0, 1], got {fraction}")
        return self._first(math.ceil(fraction * len(self)))

    def _first(self, count: int) -> "MinedPairs":
        return MinedPairs(self.src[:count], self.tgt[:count], self.score[:count])


def mine_candidates(src_emb: RowSource, tgt_emb: RowSource, *, k: int = 4, margin: str = "ratio",
                    mode: str = "max", greedy: bool = False, backend: str = "auto", index: str = "flat",
                    **search_options) -> MinedPairs:
    """Margin-scored translation pairs between two sets of L2-normalised embeddings.

    ``backend`` is ``auto`` (faiss when installed, else torch), ``faiss`` or ``torch``; ``index`` is
    ``flat`` (exact), ``ivf``, ``ivfpq`` or ``hnsw``; ``search_options`` are the other :class:`SearchConfig`
    fields (``nlist``, ``nprobe``, ``refine_factor``, ``hnsw_m``, ``ef_search``, ``chunk_size``, ``device``,
    ``progress``).
    """
    check_scoring(margin, mode)
    config = SearchConfig(backend=backend, index=index, **search_options)
    forward = knn_search(src_emb, tgt_emb, k, config, desc="search src->tgt")
    backward = knn_search(tgt_emb, src_emb, k, config, desc="search tgt->src")
    return score_neighbours(forward, backward, margin=margin, mode=mode, greedy=greedy)


def check_scoring(margin: str, mode: str) -> None:
    if margin not in MARGINS:
        raise InputError(f"unknown margin {margin!r}; choose one of {', '.join(MARGINS)}")
    if mode not in MODES:
        raise InputError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")


def score_neighbours(forward: Neighbours, backward: Neighbours, *, margin: str = "ratio", mode: str = "max",
                     greedy: bool = False) -> MinedPairs:
    """Pairs from the source->target (``forward``) and target->source (``backward``) neighbour lists."""
    check_scoring(margin, mode)
    src_avg, tgt_avg = mean_similarity(forward), mean_similarity(backward)
    fwd_tgt, fwd_score = _best_candidates(forward, src_avg, tgt_avg, margin)
    bwd_src, bwd_score = _best_candidates(backward, tgt_avg, src_avg, margin)
    src_rows, tgt_rows = np.arange(len(forward)), np.arange(len(backward))
    fwd = (src_rows[fwd_tgt >= 0], fwd_tgt[fwd_tgt >= 0], fwd_score[fwd_tgt >= 0])
    bwd = (bwd_src[bwd_src >= 0], tgt_rows[bwd_src >= 0], bwd_score[bwd_src >= 0])
    if mode == "forward":
        pairs = _ranked(*fwd)
    elif mode == "backward":
        pairs = _ranked(*bwd)
    elif mode == "intersect":
        agreed = bwd_src[fwd[1]] == fwd[0]
        pairs = _ranked(fwd[0][agreed], fwd[1][agreed], fwd[2][agreed])
    else:
        pairs = _distinct(_ranked(*(np.concatenate([f, b]) for f, b in zip(fwd, bwd))))
    return _one_to_one(pairs) if greedy else pairs


def margin_score(cos: np.ndarray, avg_a: np.ndarray, avg_b: np.ndarray, margin: str) -> np.ndarray:
    """The margin of pairs with cosine ``cos`` whose sides have mean kNN similarities ``avg_a``, ``avg_b``."""
    if margin == "absolute":
        return cos.astype(np.float64)
    mean = (avg_a + avg_b) / 2
    return cos / mean if margin == "ratio" else cos - mean


def mean_similarity(neighbours: Neighbours) -> np.ndarray:
    """Per query row, the mean similarity of the neighbours found (float64, NaN when none was)."""
    valid = neighbours.valid
    total = np.where(valid, neighbours.sims.astype(np.float64), 0.0).sum(axis=1)
    found = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / found


def _best_candidates(neighbours: Neighbours, query_avg: np.ndarray, other_avg: np.ndarray,
                     margin: str) -> tuple[np.ndarray, np.ndarray]:
    """Per query row, the neighbour with the best margin and that margin (id -1 when there is none).

    A neighbour that itself found no neighbours (possible with approximate indexes) has no margin.
    """
    safe_ids = np.where(neighbours.valid, neighbours.ids, 0)
    scores = margin_score(neighbours.sims.astype(np.float64), query_avg[:, None], other_avg[safe_ids], margin)
    valid = neighbours.valid & ~np.isnan(scores)
    scores = np.where(valid, scores, -np.inf)
    column = scores.argmax(axis=1)
    rows = np.arange(len(neighbours))
    best = np.where(valid[rows, column], neighbours.ids[rows, column], -1)
    return best, scores[rows, column]


def _ranked(src: np.ndarray, tgt: np.ndarray, score: np.ndarray) -> MinedPairs:
    """Best score first; ties by source then target row, so every backend and run orders pairs alike."""
    order = np.lexsort((tgt, src, -score))
    return MinedPairs(src[order].astype(np.int64), tgt[order].astype(np.int64), score[order])


def _distinct(pairs: MinedPairs) -> MinedPairs:
    """Drop repeats of a pair (proposed by both sides), keeping its best-ranked occurrence."""
    packed = pairs.src * (int(pairs.tgt.max(initial=0)) + 1) + pairs.tgt
    _, first = np.unique(packed, return_index=True)
    keep = np.sort(first)
    return MinedPairs(pairs.src[keep], pairs.tgt[keep], pairs.score[keep])


def _one_to_one(pairs: MinedPairs) -> MinedPairs:
    """Walk pairs best-first and keep those whose source and target are both still unused."""
    used_src, used_tgt = set(), set()
    keep = np.zeros(len(pairs), dtype=bool)
    for position, (src, tgt) in enumerate(zip(pairs.src.tolist(), pairs.tgt.tolist())):
        if src not in used_src and tgt not in used_tgt:
            used_src.add(src)
            used_tgt.add(tgt)
            keep[position] = True
    return MinedPairs(pairs.src[keep], pairs.tgt[keep], pairs.score[keep])
