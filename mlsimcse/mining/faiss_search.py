"""kNN search with faiss: an exact inner-product index, or an approximate one when exact search is too slow.

``ivf`` scans the few inverted lists nearest to a query; ``ivfpq`` scans them as 4-bit product-quantised
codes with SIMD (several times faster again) and then re-ranks the best ``refine_factor``·k candidates with
float16 copies of the vectors — lossless for embeddings stored as float16 — so the similarities handed to
margin scoring are exact; ``hnsw`` walks a proximity graph. The database is added to the index one chunk
at a time and queries are searched one chunk at a time, so beyond the index itself memory stays bounded by
the chunk size. On a machine with faiss GPU support the flat and IVF indexes move to the GPUs.
"""

from __future__ import annotations

import math

import numpy as np

from mlsimcse.errors import InputError
from mlsimcse.mining.knn import Neighbours, RowSource, SearchConfig, float32_rows
from mlsimcse.progress import progress_bar
from mlsimcse.row_chunks import row_chunks

TRAINING_ROWS_PER_LIST = 50
"""IVF training sample per list: above the 39 faiss warns under, far below the full corpus."""


def default_nlist(n_rows: int) -> int:
    """About 4·sqrt(n) lists, capped so that every list gets enough training rows."""
    return max(1, min(int(4 * math.sqrt(n_rows)), n_rows // TRAINING_ROWS_PER_LIST))


def faiss_knn(queries: RowSource, database: RowSource, k: int, config: SearchConfig, *,
              desc: str = "search") -> Neighbours:
    index = build_index(database, config)
    sims = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start, stop in progress_bar(row_chunks(len(queries), config.chunk_size), desc=desc, unit="chunk",
                                    enabled=config.progress):
        sims[start:stop], ids[start:stop] = index.search(float32_rows(queries, start, stop), k)
    return Neighbours(sims, ids)


def build_index(database: RowSource, config: SearchConfig):
    """An inner-product index over ``database`` of the kind ``config.index`` names, filled chunk by chunk."""
    import faiss

    dim = database.shape[1]
    nlist = min(config.nlist or default_nlist(len(database)), len(database))
    if config.index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.ef_search
    elif config.index == "ivf":
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    elif config.index == "ivfpq":
        if dim % 4:
            raise InputError(f"the ivfpq index needs a dimension divisible by 4, got {dim}")
        index = faiss.index_factory(dim, f"IVF{nlist},PQ{dim // 4}x4fs,Refine(SQfp16)", faiss.METRIC_INNER_PRODUCT)
        index.k_factor = config.refine_factor
    else:
        index = faiss.IndexFlatIP(dim)
    if config.index in ("ivf", "ivfpq"):
        index.train(_training_sample(database, nlist * TRAINING_ROWS_PER_LIST, config.chunk_size))
        faiss.extract_index_ivf(index).nprobe = min(config.nprobe, nlist)
    for start, stop in row_chunks(len(database), config.chunk_size):
        index.add(float32_rows(database, start, stop))
    return _on_gpus_if_present(index, config)


def _training_sample(database: RowSource, size: int, chunk_size: int) -> np.ndarray:
    """A fixed-seed random sample of rows (corpora are often sorted, so the first rows would be biased)."""
    if size >= len(database):
        return float32_rows(database, 0, len(database))
    picked = np.sort(np.random.default_rng(0).choice(len(database), size=size, replace=False))
    parts = []
    for start, stop in row_chunks(len(database), chunk_size):
        inside = picked[(picked >= start) & (picked < stop)]
        if len(inside):
            parts.append(float32_rows(database, start, stop)[inside - start])
    return np.concatenate(parts)


def _on_gpus_if_present(index, config: SearchConfig):
    """Move flat and IVF indexes to all GPUs when faiss was built with GPU support and some are visible."""
    import faiss

    if config.device == "cpu" or config.index not in ("flat", "ivf") or faiss.get_num_gpus() == 0:
        return index
    return faiss.index_cpu_to_all_gpus(index)
