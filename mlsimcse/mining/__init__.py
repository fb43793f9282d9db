"""Bitext mining: two monolingual corpora in, margin-scored translation pairs out.

The layers, bottom up: :mod:`.knn` (with :mod:`.faiss_search` and :mod:`.torch_search`) finds nearest
neighbours; :mod:`.margin` turns neighbour lists into scored pairs; :mod:`.corpus` reads and de-duplicates
the input files; :mod:`.cache` and :mod:`.embedding` keep float16 embedding shards on disk; :mod:`.parts`
splits the search across jobs; :mod:`.output` writes the pairs and :mod:`.summary` reports on the run;
:mod:`.options` holds a run's settings, :mod:`.pipeline` runs it all and :mod:`.cli` exposes it.

The BUCC evaluator and other library users need only :func:`mine_candidates` on embedding arrays. The names
below are imported on first use (:mod:`mlsimcse.lazy_exports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlsimcse.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from mlsimcse.mining.knn import Neighbours, SearchConfig, knn_search
    from mlsimcse.mining.margin import MinedPairs, mine_candidates, score_neighbours

__all__ = ["MinedPairs", "Neighbours", "SearchConfig", "knn_search", "mine_candidates", "score_neighbours"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "Neighbours": "mlsimcse.mining.knn",
    "SearchConfig": "mlsimcse.mining.knn",
    "knn_search": "mlsimcse.mining.knn",
    "MinedPairs": "mlsimcse.mining.margin",
    "mine_candidates": "mlsimcse.mining.margin",
    "score_neighbours": "mlsimcse.mining.margin",
})
