"""Every reused embedding shard is the one that was written: size and sha256 recorded beside it, checked on reuse."""

from __future__ import annotations

import json

import numpy as np
from test_mining_pipeline import corpora, quiet  # noqa: F401  (corpora is a fixture)
from test_mining_support import KeyedEncoder

from mlsimcse.mining.cache import DiskEmbeddingCache
from mlsimcse.mining.options import ScoringOptions
from mlsimcse.mining.pipeline import mine_corpora

IDENTITY = {"model": "test", "file_sha256": "1" * 64}


def written_cache(root):
    cache = DiskEmbeddingCache.open(root, rows=12, dim=4, identity=IDENTITY, shard_rows=5)
    for shard, (start, stop) in enumerate(cache.shards):
        cache.write_shard(shard, np.full((stop - start, 4), shard + 1, dtype=np.float32))
    return cache


def reopened(root):
    return DiskEmbeddingCache.open(root, rows=12, dim=4, identity=IDENTITY, shard_rows=5)


def test_a_shard_replaced_by_one_of_the_same_shape_is_encoded_again(tmp_path):
    cache = written_cache(tmp_path)
    record = json.loads(cache.checksum_path(1).read_text())
    assert record["bytes"] == cache.shard_path(1).stat().st_size and len(record["sha256"]) == 64
    assert reopened(tmp_path).missing_shards() == []
    np.save(cache.shard_path(1), np.full((5, 4), 9, dtype=np.float16))  # same shape, dtype and size
    assert reopened(tmp_path).missing_shards() == [1]
    cache.shard_path(2).write_bytes(cache.shard_path(2).read_bytes()[:-2] + b"\x00\x3c")  # one value flipped
    cache.checksum_path(0).unlink()  # a kill between the shard and its record, or a cache of an older mlsimcse
    again = reopened(tmp_path)
    assert again.missing_shards() == [0, 1, 2]
    for shard, (start, stop) in enumerate(again.shards):
        again.write_shard(shard, np.full((stop - start, 4), shard + 1, dtype=np.float32))
    embeddings = again.finish()
    assert np.array_equal(embeddings[0:12], np.repeat([[1.0], [2.0], [3.0]], [5, 5, 2], axis=0) * np.ones(4))


def test_mining_with_a_swapped_shard_gives_the_pairs_of_an_untouched_cache(corpora, tmp_path):  # noqa: F811
    cache_dir, first, second = tmp_path / "cache", tmp_path / "first.tsv", tmp_path / "second.tsv"
    mine_corpora(*corpora, first, KeyedEncoder(), scoring=ScoringOptions(greedy=True),
                 encoding=quiet(cache_dir, shard_rows=8))
    shards = sorted(cache_dir.glob("*/shard-*.npy"))
    victim, donor = shards[0], shards[1]  # both 8 rows: the donor has the victim's shape exactly
    victim.write_bytes(donor.read_bytes())
    encoder = KeyedEncoder()
    mine_corpora(*corpora, second, encoder, scoring=ScoringOptions(greedy=True),
                 encoding=quiet(cache_dir, shard_rows=8))
    assert len(encoder.encoded) == 8  # that shard alone was encoded again
    assert second.read_bytes() == first.read_bytes()
