"""The float16 embedding shard cache: reading across shards, reuse, interrupted writes, model mismatches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_mining_support import KeyedEncoder

from mlsimcse.errors import InputError
from mlsimcse.mining.cache import MANIFEST, DiskEmbeddingCache, cache_key
from mlsimcse.mining.corpus import read_corpus
from mlsimcse.mining.embedding import embed_corpus, model_identity
from mlsimcse.mining.options import EncodeOptions
from mlsimcse.mining.parts import Part

IDENTITY = {"model": "test", "file_sha256": "0" * 64}


def filled_cache(root, rows=23, dim=6, shard_rows=5):
    vectors = np.random.default_rng(0).normal(size=(rows, dim)).astype(np.float32)
    cache = DiskEmbeddingCache.open(root, rows=rows, dim=dim, identity=IDENTITY, shard_rows=shard_rows)
    for shard, (start, stop) in enumerate(cache.shards):
        cache.write_shard(shard, vectors[start:stop])
    return cache, vectors


def test_sharded_embeddings_read_like_one_float16_array(tmp_path):
    cache, vectors = filled_cache(tmp_path)
    embeddings = cache.finish()
    expected = vectors.astype(np.float16)
    assert embeddings.shape == (23, 6) and len(embeddings) == 23
    for start, stop in [(0, 23), (0, 5), (3, 12), (5, 10), (9, 21), (22, 23), (20, 40), (7, 7)]:
        assert np.array_equal(embeddings[start:stop], expected[start:stop])
    with pytest.raises(TypeError):
        embeddings[0:10:2]


def test_finished_cache_has_a_manifest_and_nothing_missing_when_reopened(tmp_path):
    cache, _ = filled_cache(tmp_path)
    (cache.folder / ".shard-00001.npy.tmp-left-by-a-kill").write_bytes(b"partial")
    cache.finish()
    manifest = json.loads((cache.folder / MANIFEST).read_text())
    assert (manifest["rows"], manifest["dim"], manifest["shards"], manifest["dtype"]) == (23, 6, 5, "float16")
    assert not list(cache.folder.glob(".shard-*"))
    reopened = DiskEmbeddingCache.open(tmp_path, rows=23, dim=6, identity=IDENTITY, shard_rows=5)
    assert reopened.folder == cache.folder and reopened.missing_shards() == []


def test_unfinished_shards_are_missing_and_finish_refuses(tmp_path):
    cache = DiskEmbeddingCache.open(tmp_path, rows=12, dim=4, identity=IDENTITY, shard_rows=5)
    cache.write_shard(0, np.ones((5, 4), dtype=np.float32))
    cache.shard_path(1).write_bytes(b"not a numpy file")
    np.save(cache.shard_path(2), np.ones((1, 4), dtype=np.float16))
    assert cache.missing_shards() == [1, 2]
    with pytest.raises(InputError, match="2 of 3 embedding shards are not encoded"):
        cache.finish()
    assert not (cache.folder / MANIFEST).exists()


def test_a_model_of_another_dimension_behind_the_same_cache_is_refused(tmp_path):
    cache, _ = filled_cache(tmp_path, dim=6)
    with pytest.raises(InputError, match="dimension 6 but the model produces 8"):
        DiskEmbeddingCache.open(tmp_path, rows=23, dim=8, identity=IDENTITY, shard_rows=5).missing_shards()
    cache.finish()
    with pytest.raises(InputError, match="dimension 6 but the model produces 8"):
        DiskEmbeddingCache.open(tmp_path, rows=23, dim=8, identity=IDENTITY, shard_rows=5)


def test_cache_key_changes_with_what_defines_the_vectors(tmp_path):
    other_file = {**IDENTITY, "file_sha256": "1" * 64}
    assert cache_key(IDENTITY) == cache_key(dict(reversed(list(IDENTITY.items()))))
    assert cache_key(IDENTITY) != cache_key(other_file)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"v1")
    before = model_identity(KeyedEncoder(name_or_path=str(model)))
    copy = tmp_path / "elsewhere" / "model-copy"
    copy.mkdir(parents=True)
    (copy / "weights.bin").write_bytes(b"v1")
    assert model_identity(KeyedEncoder(name_or_path=str(copy))) == before
    (model / "weights.bin").write_bytes(b"v2 retrained")
    assert cache_key(model_identity(KeyedEncoder(name_or_path=str(model)))) != cache_key(before)
    assert model_identity(KeyedEncoder(), dtype="bfloat16") != model_identity(KeyedEncoder())


def test_embedding_parts_encode_disjoint_shards_and_together_fill_the_cache(tmp_path):
    corpus_file = tmp_path / "c.txt"
    corpus_file.write_text("".join(f"{n}|sentence {n}\n" for n in range(30)) + "0|sentence 0\n")
    corpus = read_corpus(corpus_file)
    encoders = [KeyedEncoder(), KeyedEncoder()]
    options = EncodeOptions(cache_dir=tmp_path / "cache", shard_rows=4, progress=False)
    caches = [embed_corpus(corpus, encoders[i], options, part=Part(i, 2)) for i in range(2)]
    assert sorted(encoders[0].encoded + encoders[1].encoded) == sorted(f"{n}|sentence {n}" for n in range(30))
    assert encoders[0].encoded[:4] == [f"{n}|sentence {n}" for n in range(4)]
    assert caches[0].missing_shards() == [] and caches[0].folder == caches[1].folder
    embeddings = caches[1].finish()
    np.testing.assert_allclose(embeddings[0:30], KeyedEncoder().encode(corpus.unique_texts(0, 30), normalize=True),
                               atol=1e-3)
