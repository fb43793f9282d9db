"""k-nearest-neighbour search between two embedding sets, never holding the full similarity matrix.

Margin scoring needs, for every sentence on each side, its k most similar sentences on the other side. At
corpus scale the N×M cosine matrix fits nowhere, so every backend walks the queries in chunks and keeps only
a running top-k. faiss is used when installed (an exact flat index by default, IVF, IVF-PQ or HNSW when exact
search is too slow); the torch fallback needs nothing beyond torch and gives the same neighbours as exact faiss.

Embedding sets are "row sources": anything with ``len`` and ``[start:stop]`` slicing that returns a numpy
array (numpy arrays, memory maps, the shard cache), so float16 shards on disk are read one chunk at a time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from mlsimcse.choices import BACKENDS, INDEXES
from mlsimcse.errors import InputError
from mlsimcse.row_chunks import row_chunks



class RowSource(Protocol):
    """Embeddings that can be read one slice of rows at a time."""

    shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, rows: slice) -> np.ndarray: ...


@dataclass(frozen=True)
class SearchConfig:
    """How to search: backend, index type and its tuning knobs, chunk size and device.

    ``nlist`` defaults to about 4·sqrt(database size) IVF lists, the usual faiss starting point; ``nprobe``
    and ``ef_search`` trade recall for speed; ``refine_factor`` is how many candidates per neighbour the
    ``ivfpq`` index re-ranks exactly. ``chunk_size`` bounds the rows handled at once, and with it the memory
    the search needs beyond the index.
    """

    backend: str = "auto"
    index: str = "flat"
    chunk_size: int = 8192
    nlist: int | None = None
    nprobe: int = 16
    refine_factor: int = 32
    hnsw_m: int = 32
    ef_search: int = 128
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"unknown search backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.index not in INDEXES:
            raise InputError(f"unknown index {self.index!r}; choose one of {', '.join(INDEXES)}")
        if self.backend == "torch" and self.index != "flat":
            raise InputError(f"the torch backend searches exactly; index {self.index!r} needs faiss")
        for name in ("chunk_size", "nprobe", "refine_factor", "hnsw_m", "ef_search"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.nlist is not None and self.nlist < 1:
            raise InputError(f"nlist must be at least 1, got {self.nlist}")


@dataclass(frozen=True)
class Neighbours:
    """Per query row: similarities of its k nearest database rows, best first, and their row numbers.

    An approximate index may find fewer than k rows for a query; the gaps hold id -1.
    """

    sims: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def valid(self) -> np.ndarray:
        return self.ids >= 0


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def resolve_backend(config: SearchConfig) -> str:
    """The backend ``auto`` stands for here, or an error when the one asked for cannot run."""
    if config.backend == "torch":
        return "torch"
    if faiss_available():
        return "faiss"
    if config.backend == "faiss" or config.index != "flat":
        raise InputError(f"faiss is not installed (needed for backend {config.backend!r}, index "
                         f"{config.index!r}); install the faiss-cpu extra or use the exact torch backend")
    return "torch"


def knn_search(queries: RowSource, database: RowSource, k: int, config: SearchConfig = SearchConfig(),
               *, desc: str = "search") -> Neighbours:
    """The ``k`` most cosine-similar database rows of every query row (rows are L2-normalised)."""
    if len(queries) == 0 or len(database) == 0:
        raise InputError("nearest-neighbour search needs at least one row on each side")
    if queries.shape[1] != database.shape[1]:
        raise InputError(f"embedding dimensions differ: {queries.shape[1]} vs {database.shape[1]}")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    k = min(k, len(database))
    if resolve_backend(config) == "faiss":
        from mlsimcse.mining.faiss_search import faiss_knn

        return faiss_knn(queries, database, k, config, desc=desc)
    from mlsimcse.mining.torch_search import torch_knn

    return torch_knn(queries, database, k, config, desc=desc)


def merge_neighbours(parts: Sequence[Neighbours], k: int) -> Neighbours:
    """Top-k over several top-k lists of the same queries; their ids must already be global row numbers.

    The top-k of the union of per-part top-k lists is the top-k over all parts, which is what lets the
    database side be split across jobs and merged afterwards.
    """
    sims = np.concatenate([part.sims for part in parts], axis=1)
    ids = np.concatenate([part.ids for part in parts], axis=1)
    ranked = np.where(ids >= 0, sims, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
    return Neighbours(np.take_along_axis(sims, order, axis=1), np.take_along_axis(ids, order, axis=1))


RESCORE_ROWS = 1024
"""Query rows re-scored at a time: their candidates' vectors are gathered, so this bounds that copy."""

RESCORE_EXTRA = 4
"""Candidates searched beyond k for the exact re-ranking, so a near-tie at the k-th place cannot flip."""


def exact_knn(queries: RowSource, database: RowSource, k: int, config: SearchConfig = SearchConfig(),
              *, desc: str = "search") -> Neighbours:
    """``knn_search`` whose similarities, and so whose top k, do not depend on how the search was run.

    A matrix product rounds each entry differently depending on the shapes it is blocked into, so one pair
    gets similarities a float32 rounding apart when a search is cut into parts, moved to another machine
    or run with other thread counts, and a margin score printed to six places shows it. So ``k`` plus a few
    candidates are searched, each candidate's dot product is summed again in float64, and the best ``k``
    are kept, ties broken by database row. For the unit float16 vectors the embedding cache stores the sum
    is exact: every product is a multiple of 2**-48 and every partial sum stays below 2 in magnitude, which
    float64 holds without rounding, so the order of the sum cannot matter and the one rounding to float32
    gives the same number wherever it runs. Only candidates within a float32 rounding of each other at
    the k+4-th place could still differ.
    """
    found = knn_search(queries, database, k + RESCORE_EXTRA, config, desc=desc)
    keep = min(k, found.ids.shape[1])
    sims = np.empty((len(found), keep), dtype=np.float32)
    ids = np.empty((len(found), keep), dtype=np.int64)
    for start, stop in row_chunks(len(found), RESCORE_ROWS):
        chunk_ids = found.ids[start:stop]
        valid = chunk_ids >= 0
        gathered = take_rows(database, np.where(valid, chunk_ids, 0).reshape(-1))
        gathered = gathered.reshape(*chunk_ids.shape, -1).astype(np.float64)
        exact = np.einsum("nd,nkd->nk", np.asarray(queries[start:stop], dtype=np.float64), gathered)
        exact = np.where(valid, exact, -np.inf)
        order = np.lexsort((np.where(valid, chunk_ids, np.iinfo(np.int64).max), -exact), axis=1)[:, :keep]
        chunk_sims = np.where(valid, exact, found.sims[start:stop]).astype(np.float32)
        sims[start:stop] = np.take_along_axis(chunk_sims, order, axis=1)
        ids[start:stop] = np.take_along_axis(chunk_ids, order, axis=1)
    return Neighbours(sims, ids)


def take_rows(source: RowSource, rows: np.ndarray) -> np.ndarray:
    """Rows at arbitrary positions: by fancy indexing where the source has it, else one slice per row."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(source, np.ndarray):
        return source[rows]
    if hasattr(source, "take"):
        return source.take(rows)
    if not len(rows):
        return np.empty((0, source.shape[1]), dtype=np.float32)
    return np.concatenate([source[row:row + 1] for row in rows.tolist()])


def float32_rows(source: RowSource, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` as a contiguous float32 array (what faiss and torch compute on)."""
    return np.ascontiguousarray(source[start:stop], dtype=np.float32)


class RowWindow:
    """Rows ``[start, stop)`` of a row source, usable as a row source (one search part's source rows)."""

    def __init__(self, source: RowSource, start: int, stop: int):
        self.source = source
        self.start = start
        self.shape = (stop - start, source.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(len(self))
        return self.source[self.start + start:self.start + stop]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return take_rows(self.source, rows + self.start)
