"""``mine`` with real encoders: a tiny random BERT through the CLI, and the shared MiniLM on WMT news.

The cached float16 shards must hold what the encoder (and, for MiniLM, sentence-transformers itself)
produces for the unique sentences, and margin mining must recover the line alignment of real translations.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import WORDS

from mlsimcse.cli import main
from mlsimcse.encoder import SentenceEncoder
from mlsimcse.mining.cache import MANIFEST
from mlsimcse.mining.corpus import read_corpus
from mlsimcse.mining.embedding import open_cache
from mlsimcse.mining.options import EncodeOptions, ScoringOptions
from mlsimcse.mining.pipeline import mine_corpora


def cached_embeddings(corpus_path, encoder, cache_dir, **settings):
    corpus = read_corpus(corpus_path)
    cache = open_cache(corpus, encoder, cache_dir, **settings)
    assert (cache.folder / MANIFEST).is_file()
    return corpus, cache.finish()[0:corpus.n_unique]


def test_mine_with_a_tiny_bert_caches_what_the_encoder_produces(tiny_bert, tmp_path):
    rng = random.Random(0)
    sentences = [" ".join(rng.choices(WORDS, k=6)) for _ in range(40)]
    src, tgt, out = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "pairs.tsv"
    src.write_text("\n".join(sentences[:30] + sentences[:3]) + "\n")
    tgt.write_text("\n".join(sentences[10:40]) + "\n")
    assert main(["mine", "--model", str(tiny_bert), "--src", str(src), "--tgt", str(tgt), "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--shard-rows", "7", "--greedy", "--pooling", "mean"]) == 0
    encoder = SentenceEncoder.from_pretrained(tiny_bert, pooling="mean")
    corpus, cached = cached_embeddings(src, encoder, tmp_path / "cache", shard_rows=7)
    expected = encoder.encode(corpus.unique_texts(0, corpus.n_unique), normalize=True)
    assert (expected @ expected.T < 0.99).mean() > 0.5  # distinct sentences get distinct vectors
    np.testing.assert_allclose(cached.astype(np.float32), expected, atol=2e-3)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert all(a == b for _, a, b in rows[:20])  # identical sentences on both sides are the top pairs


@pytest.mark.slow
def test_minilm_cache_matches_sentence_transformers_and_mining_recovers_wmt_translations(
        minilm, shared_data, tmp_path):
    from sentence_transformers import SentenceTransformer

    folder = shared_data / "wmt_newstest" / "de-en"
    german = (folder / "newstest2019.de-en.de").read_text(encoding="utf-8").splitlines()[:120]
    english = (folder / "newstest2019.de-en.en").read_text(encoding="utf-8").splitlines()[:150]
    translation = dict(zip(german, english))
    src, tgt, out = tmp_path / "news.de", tmp_path / "news.en", tmp_path / "pairs.tsv"
    src.write_text("\n".join(german) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(random.Random(0).sample(english, len(english))) + "\n", encoding="utf-8")
    encoder = SentenceEncoder.from_pretrained(minilm)
    mine_corpora(src, tgt, out, encoder, scoring=ScoringOptions(greedy=True),
                 encoding=EncodeOptions(cache_dir=tmp_path / "cache", progress=False))

    corpus, cached = cached_embeddings(tgt, encoder, tmp_path / "cache")
    reference = SentenceTransformer(str(minilm), device="cpu").encode(
        corpus.unique_texts(0, corpus.n_unique), normalize_embeddings=True)
    np.testing.assert_allclose(cached.astype(np.float32), reference, atol=2e-3)

    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    best_half = rows[:60]
    precision = np.mean([translation[de] == en for _, de, en in best_half])
    assert precision >= 0.9, f"only {precision:.0%} of the 60 best pairs are the true translations"
