"""Margin mining against a brute-force reference computed here from the full similarity matrix.

The reference follows the definitions of Artetxe & Schwenk (2019) literally, on the whole N×M matrix, in
float64 and plain Python loops; the library must give the same pairs, scores and F1 for every margin,
retrieval mode and greedy setting, with each search backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_mining_support import planted_embeddings

from mlsimcse.errors import InputError
from mlsimcse.mining import MinedPairs, Neighbours, mine_candidates, score_neighbours
from mlsimcse.mining.margin import MARGINS, MODES

N_PLANTED = 40


def brute_force(x: np.ndarray, y: np.ndarray, k: int, margin: str, mode: str, greedy: bool):
    """[(score, src, tgt)] best first, from the full cosine matrix."""
    sims = x.astype(np.float64) @ y.astype(np.float64).T
    src_nn = np.argsort(-sims, axis=1)[:, :min(k, len(y))]
    tgt_nn = np.argsort(-sims.T, axis=1)[:, :min(k, len(x))]
    src_avg = np.take_along_axis(sims, src_nn, axis=1).mean(axis=1)
    tgt_avg = np.take_along_axis(sims.T, tgt_nn, axis=1).mean(axis=1)

    def score(i: int, j: int) -> float:
        mean = (src_avg[i] + tgt_avg[j]) / 2
        return {"ratio": sims[i, j] / mean, "distance": sims[i, j] - mean, "absolute": sims[i, j]}[margin]

    forward = {i: max(src_nn[i], key=lambda j: score(i, j)) for i in range(len(x))}
    backward = {j: max(tgt_nn[j], key=lambda i: score(i, j)) for j in range(len(y))}
    fwd_pairs = {(i, int(j)) for i, j in forward.items()}
    bwd_pairs = {(int(i), j) for j, i in backward.items()}
    candidates = {"forward": fwd_pairs, "backward": bwd_pairs, "max": fwd_pairs | bwd_pairs,
                  "intersect": {(i, j) for i, j in fwd_pairs if backward[j] == i}}[mode]
    ranked = sorted(((score(i, j), i, j) for i, j in candidates), key=lambda row: (-row[0], row[1], row[2]))
    if not greedy:
        return ranked
    kept, used_src, used_tgt = [], set(), set()
    for row in ranked:
        if row[1] not in used_src and row[2] not in used_tgt:
            kept.append(row)
            used_src.add(row[1])
            used_tgt.add(row[2])
    return kept


def f1(pairs: set[tuple[int, int]]) -> float:
    gold = {(i, i) for i in range(N_PLANTED)}
    hits = len(pairs & gold)
    return 0.0 if hits == 0 else 2 * hits / (len(pairs) + len(gold))


@pytest.fixture(scope="module")
def planted():
    return planted_embeddings(n_pairs=N_PLANTED)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("margin", MARGINS)
def test_pairs_scores_and_f1_equal_brute_force(planted, margin, mode, greedy, backend):
    src, tgt = planted
    mined = mine_candidates(src, tgt, k=4, margin=margin, mode=mode, greedy=greedy, backend=backend,
                            chunk_size=16, progress=False)
    reference = brute_force(src, tgt, 4, margin, mode, greedy)
    assert list(zip(mined.src.tolist(), mined.tgt.tolist())) == [(i, j) for _, i, j in reference]
    np.testing.assert_allclose(mined.score, [s for s, _, _ in reference], rtol=1e-5, atol=1e-6)
    mined_f1 = f1(set(zip(mined.src.tolist(), mined.tgt.tolist())))
    assert mined_f1 == f1({(i, j) for _, i, j in reference})
    if (greedy or mode == "intersect") and margin != "absolute":
        assert mined_f1 > 0.8


def test_every_margin_and_mode_gives_different_pairs_on_the_fixture(planted):
    """The fixture must tell the criteria apart, or the parity test above would prove little."""
    src, tgt = planted
    outputs = set()
    for margin in MARGINS:
        for mode in MODES:
            mined = mine_candidates(src, tgt, margin=margin, mode=mode, progress=False)
            outputs.add(tuple(zip(mined.src.tolist(), mined.tgt.tolist())))
    assert len(outputs) == len(MARGINS) * len(MODES)


def test_faiss_and_torch_agree_on_float16_embeddings():
    src, tgt = planted_embeddings(n_pairs=600, src_extra=900, tgt_extra=1400, dim=48, seed=3)
    src, tgt = src.astype(np.float16), tgt.astype(np.float16)
    by_faiss = mine_candidates(src, tgt, backend="faiss", greedy=True, progress=False)
    by_torch = mine_candidates(src, tgt, backend="torch", greedy=True, chunk_size=257, progress=False)
    assert np.array_equal(by_faiss.src, by_torch.src) and np.array_equal(by_faiss.tgt, by_torch.tgt)
    np.testing.assert_allclose(by_faiss.score, by_torch.score, atol=1e-3)


def test_k_larger_than_a_side_uses_every_row(planted):
    src, tgt = planted
    few = src[:3]
    mined = mine_candidates(few, tgt, k=10, mode="backward", progress=False)
    reference = brute_force(few, tgt, 10, "ratio", "backward", False)
    assert list(zip(mined.src.tolist(), mined.tgt.tolist())) == [(i, j) for _, i, j in reference]


def test_rows_without_neighbours_are_never_proposed_and_partial_lists_average_what_was_found():
    forward = Neighbours(np.array([[0.9, 0.5], [0.0, 0.0]], dtype=np.float32), np.array([[1, 0], [-1, -1]]))
    backward = Neighbours(np.array([[0.5, 0.2], [0.9, 0.0]], dtype=np.float32), np.array([[0, 1], [0, -1]]))
    mined = score_neighbours(forward, backward, margin="ratio", mode="max")
    assert list(zip(mined.src.tolist(), mined.tgt.tolist())) == [(0, 1), (0, 0)]
    # src 0 averages 0.7, src 1 found nothing; tgt 0 averages 0.35, tgt 1 found one neighbour (0.9)
    np.testing.assert_allclose(mined.score, [0.9 / 0.8, 0.5 / 0.525])


def test_threshold_and_top_fraction_keep_the_best_pairs():
    pairs = MinedPairs(np.arange(5), np.arange(5), np.array([1.3, 1.2, 1.1, 1.0, 0.9]))
    assert pairs.above(1.1).score.tolist() == [1.3, 1.2, 1.1]
    assert pairs.top_fraction(0.5).score.tolist() == [1.3, 1.2, 1.1]
    assert len(pairs.top_fraction(0.01)) == 1
    with pytest.raises(InputError, match="top fraction"):
        pairs.top_fraction(0.0)


@pytest.mark.parametrize("option, value", [("margin", "cosine"), ("mode", "union")])
def test_unknown_margin_or_mode_is_refused(planted, option, value):
    with pytest.raises(InputError, match=value):
        mine_candidates(*planted, **{option: value})
