"""Fakes shared by the mining tests, and checks that the fakes behave as the tests assume.

``KeyedEncoder`` stands in for a sentence encoder: sentences sharing a key (the text before ``|``) get
nearby vectors, so "translations" are planted by giving them one key. ``planted_embeddings`` builds
L2-normalised source/target sets where the first ``n_pairs`` rows are translations of each other among
distractors and a few hub vectors close to many sources (the case margin scoring exists for).
"""

from __future__ import annotations

import hashlib

import numpy as np


class KeyedEncoder:
    """Deterministic fake encoder: vector = shared key direction + small per-text noise."""

    def __init__(self, dim: int = 64, name_or_path: str = "keyed-fake-encoder", noise: float = 0.3):
        self.embedding_dim = dim
        self.name_or_path = name_or_path
        self.noise = noise
        self.encoded: list[str] = []

    def encode(self, sentences, batch_size=64, *, normalize=None, device=None, dtype=None,
               show_progress_bar=None) -> np.ndarray:
        self.encoded.extend(sentences)
        rows = [self._vector(text.split("|")[0]) + self.noise * self._vector(text) for text in sentences]
        vectors = np.asarray(rows, dtype=np.float32)
        if normalize:
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        return np.random.default_rng(seed).normal(size=self.embedding_dim)


def normalized(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def planted_embeddings(n_pairs: int = 40, src_extra: int = 25, tgt_extra: int = 35, dim: int = 24,
                       noise: float = 0.35, hubs: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source and target float32 embeddings; source row i and target row i are translations for i < n_pairs."""
    rng = np.random.default_rng(seed)
    meanings = rng.normal(size=(n_pairs, dim))
    src = np.concatenate([meanings + noise * rng.normal(size=meanings.shape), rng.normal(size=(src_extra, dim))])
    hub_rows = np.stack([src[rng.choice(len(src), 12, replace=False)].mean(axis=0) for _ in range(hubs)])
    tgt = np.concatenate([meanings + noise * rng.normal(size=meanings.shape), rng.normal(size=(tgt_extra, dim)),
                          hub_rows + 0.05 * rng.normal(size=hub_rows.shape)])
    return normalized(src).astype(np.float32), normalized(tgt).astype(np.float32)


def test_keyed_encoder_puts_shared_keys_closest():
    encoder = KeyedEncoder()
    vectors = encoder.encode(["7|guten Tag", "7|good day", "8|good day", "9|hello"], normalize=True)
    sims = vectors @ vectors.T
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert sims[0, 1] > 0.8 > max(sims[0, 2], sims[0, 3])
    assert np.array_equal(encoder.encode(["7|guten Tag"], normalize=True)[0], vectors[0])


def test_planted_pairs_are_each_others_nearest_neighbours():
    src, tgt = planted_embeddings()
    best = (src @ tgt.T).argmax(axis=1)[:40]
    assert np.mean(best == np.arange(40)) > 0.9
