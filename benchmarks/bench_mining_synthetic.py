"""Synthetic embedding corpora for the mining benchmarks (imported by them; prints nothing itself).

Pure Gaussian noise in 384 dimensions has no neighbourhood structure at all, so approximate indexes look
uselessly bad on it and no real corpus behaves like it. These corpora are random but shaped like sentence
embeddings: rows scatter around topic centres, and every even target row is a noisy copy of the source row
with the same number (the translations to be mined), so any prefix of a corpus is half parallel. Rows are
generated chunk by chunk straight into float16 ``.npy`` files, the embedding cache's format, so generating
a million rows needs little memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 384
TOPICS = 2000
TOPIC_SPREAD = 0.9
"""Row noise relative to its topic centre: most of a row's neighbours share its topic, not all."""
TRANSLATION_NOISE = 0.3
CHUNK = 65536


def write_corpus_pair(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path]:
    """``src-N.npy`` and ``tgt-N.npy`` of ``rows`` L2-normalised float16 rows; even rows are parallel."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
    paths = (folder / f"src-{rows}.npy", folder / f"tgt-{rows}.npy")
    src_out, tgt_out = (np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, DIM))
                        for path in paths)
    for start in range(0, rows, CHUNK):
        stop = min(start + CHUNK, rows)
        src = _around_topics(rng, centres, stop - start)
        tgt = _around_topics(rng, centres, stop - start)
        shared = slice((start % 2), None, 2)
        tgt[shared] = src[shared] + TRANSLATION_NOISE * rng.normal(size=src[shared].shape).astype(np.float32)
        src_out[start:stop] = _normalized(src)
        tgt_out[start:stop] = _normalized(tgt)
    src_out.flush()
    tgt_out.flush()
    return paths


def _around_topics(rng: np.random.Generator, centres: np.ndarray, rows: int) -> np.ndarray:
    topics = rng.integers(0, len(centres), rows)
    return centres[topics] + TOPIC_SPREAD * rng.normal(size=(rows, DIM)).astype(np.float32)


def _normalized(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
