"""Nearest-neighbour backends: chunked torch and approximate faiss against exact faiss, and the merge of parts."""

from __future__ import annotations

import numpy as np
import pytest
from test_mining_support import normalized

from mlsimcse.errors import InputError
from mlsimcse.mining import knn
from mlsimcse.mining.knn import Neighbours, RowWindow, SearchConfig, knn_search, merge_neighbours


@pytest.fixture(scope="module")
def clustered():
    """Queries and database drawn around shared centres, so neighbourhoods are meaningful."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 32))
    database = normalized(centres[rng.integers(0, 30, 1500)] + 0.6 * rng.normal(size=(1500, 32)))
    queries = normalized(centres[rng.integers(0, 30, 700)] + 0.6 * rng.normal(size=(700, 32)))
    return queries.astype(np.float32), database.astype(np.float32)


def exact(queries, database, k=5):
    sims = queries.astype(np.float64) @ database.astype(np.float64).T
    ids = np.argsort(-sims, axis=1)[:, :k]
    return np.take_along_axis(sims, ids, axis=1), ids


@pytest.mark.parametrize("backend, chunk_size", [("faiss", 8192), ("faiss", 100), ("torch", 8192), ("torch", 333)])
def test_exact_backends_find_the_true_neighbours(clustered, backend, chunk_size):
    queries, database = clustered
    found = knn_search(queries, database, 5, SearchConfig(backend=backend, chunk_size=chunk_size, progress=False))
    sims, ids = exact(queries, database)
    assert np.array_equal(found.ids, ids)
    np.testing.assert_allclose(found.sims, sims, atol=1e-5)


def test_ivf_visiting_every_list_is_exact(clustered):
    queries, database = clustered
    config = SearchConfig(backend="faiss", index="ivf", nlist=8, nprobe=8, progress=False)
    found = knn_search(queries, database, 5, config)
    assert np.array_equal(found.ids, exact(queries, database)[1])


@pytest.mark.parametrize("index", ["ivf", "ivfpq", "hnsw"])
def test_approximate_indexes_keep_high_recall(clustered, index):
    queries, database = clustered
    found = knn_search(queries, database, 5, SearchConfig(backend="faiss", index=index, nlist=8, nprobe=4,
                                                          progress=False))
    true_ids = exact(queries, database)[1]
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found.ids.tolist(), true_ids.tolist())])
    assert recall > 0.9


def test_ivfpq_hands_back_exact_similarities_of_float16_embeddings(clustered):
    queries, database = (rows.astype(np.float16) for rows in clustered)
    found = knn_search(queries, database, 5, SearchConfig(index="ivfpq", nlist=8, nprobe=8, progress=False))
    exact_sims = np.einsum("qd,qkd->qk", queries.astype(np.float64), database.astype(np.float64)[found.ids])
    np.testing.assert_allclose(found.sims, exact_sims, atol=1e-5)
    with pytest.raises(InputError, match="divisible by 4"):
        knn_search(queries[:, :30], database[:, :30], 5, SearchConfig(index="ivfpq", progress=False))


def test_merging_database_parts_equals_searching_the_whole(clustered):
    queries, database = clustered
    config = SearchConfig(backend="torch", progress=False)
    bounds = [0, 400, 401, 1500]
    parts = []
    for start, stop in zip(bounds, bounds[1:]):
        part = knn_search(queries, RowWindow(database, start, stop), 5, config)
        parts.append(Neighbours(part.sims, part.ids + start))
    merged = merge_neighbours(parts, 5)
    whole = knn_search(queries, database, 5, config)
    assert np.array_equal(merged.ids, whole.ids)
    np.testing.assert_allclose(merged.sims, whole.sims, atol=1e-6)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
def test_exact_knn_gives_split_and_whole_searches_the_same_bits(backend):
    """What lets the split and Ray forms of mining write the bytes of a one-process run."""
    rng = np.random.default_rng(2)
    queries, database = (normalized(rng.normal(size=(n, 384))).astype(np.float16) for n in (600, 2000))
    config = SearchConfig(backend=backend, progress=False)
    whole = knn.exact_knn(queries, database, 4, config)
    parts = []
    for start, stop in [(0, 700), (700, 2000)]:
        part = knn.exact_knn(queries, RowWindow(database, start, stop), 4, config)
        parts.append(Neighbours(part.sims, part.ids + start))
    merged = merge_neighbours(parts, 4)
    assert np.array_equal(merged.ids, whole.ids) and np.array_equal(merged.sims, whole.sims)
    sims = queries.astype(np.float64) @ database.astype(np.float64).T
    best = np.argsort(-sims, axis=1, kind="stable")[:, :4]
    assert np.array_equal(whole.ids, best)
    assert np.array_equal(whole.sims, np.take_along_axis(sims, best, axis=1).astype(np.float32))


def test_merge_ranks_missing_neighbours_last():
    found = Neighbours(np.array([[0.5, -3e38]], dtype=np.float32), np.array([[4, -1]]))
    other = Neighbours(np.array([[0.7, 0.1]], dtype=np.float32), np.array([[9, 2]]))
    merged = merge_neighbours([found, other], 3)
    assert merged.ids.tolist() == [[9, 4, 2]]


def test_k_is_capped_at_the_database_size(clustered):
    queries, database = clustered
    found = knn_search(queries[:4], database[:3], 10, SearchConfig(progress=False))
    assert found.ids.shape == (4, 3)
    assert sorted(found.ids[0].tolist()) == [0, 1, 2]


def test_row_window_reads_its_own_rows(clustered):
    _, database = clustered
    window = RowWindow(database, 100, 250)
    assert len(window) == 150 and window.shape == (150, 32)
    assert np.array_equal(window[10:20], database[110:120])
    assert np.array_equal(window[140:999], database[240:250])


def test_without_faiss_auto_falls_back_to_torch_and_approximate_indexes_are_refused(monkeypatch):
    monkeypatch.setattr(knn, "faiss_available", lambda: False)
    assert knn.resolve_backend(SearchConfig()) == "torch"
    with pytest.raises(InputError, match="faiss is not installed"):
        knn.resolve_backend(SearchConfig(backend="faiss"))
    with pytest.raises(InputError, match="faiss is not installed"):
        knn.resolve_backend(SearchConfig(index="hnsw"))


@pytest.mark.parametrize("settings, message", [
    ({"backend": "annoy"}, "unknown search backend"),
    ({"index": "pq"}, "unknown index"),
    ({"backend": "torch", "index": "ivf"}, "needs faiss"),
    ({"chunk_size": 0}, "chunk_size must be at least 1"),
    ({"nlist": 0}, "nlist must be at least 1"),
])
def test_bad_search_settings_are_refused(settings, message):
    with pytest.raises(InputError, match=message):
        SearchConfig(**settings)


def test_mismatched_dimensions_and_unknown_devices_are_refused(clustered):
    queries, database = clustered
    with pytest.raises(InputError, match="dimensions differ"):
        knn_search(queries[:, :16], database, 3)
    with pytest.raises(InputError, match="unknown torch device"):
        knn_search(queries, database, 3, SearchConfig(backend="torch", device="gpu-please", progress=False))
