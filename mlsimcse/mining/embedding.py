"""Fill the embedding cache of a corpus: encode the shards that are missing, in streaming chunks.

The encoder only ever sees one chunk of sentences, so memory does not grow with the corpus; progress is
reported per sentence. Several jobs can share one cache folder (on a shared file system) by each encoding
the shards of its own part, and whichever finds all shards present seals the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mlsimcse.faults import fault_point
from mlsimcse.mining.cache import SHARD_ROWS, EmbeddingCache
from mlsimcse.mining.corpus import Corpus
from mlsimcse.mining.knn import row_chunks
from mlsimcse.mining.options import Encoder, EncodeOptions
from mlsimcse.mining.parts import Part
from mlsimcse.progress import progress_bar

CHUNK_BATCHES = 16
"""Batches handed to the encoder per call: large enough to keep it busy, small enough for live progress."""


FINGERPRINT_BYTES = 1 << 20
"""Bytes hashed at each end of a model file: enough to tell retrained weights apart, cheap for large files."""


def model_identity(encoder: Encoder, *, dtype: str | None = None) -> dict[str, Any]:
    """What decides the vectors: the model, its encoder settings and the compute dtype.

    A local model folder is identified by its files' contents (name, size and a hash of both ends), not
    its path or dates, so retraining into the same folder is noticed while a copy of the model on another
    machine still finds the shared cache. The dimension is left out on purpose: it is checked, not keyed.
    """
    name = str(encoder.name_or_path)
    folder = Path(name).expanduser()
    identity: dict[str, Any] = {"dtype": dtype or "float32"}
    if folder.is_dir():
        identity["files"] = [[path.relative_to(folder).as_posix(), path.stat().st_size, _fingerprint(path)]
                             for path in sorted(folder.rglob("*")) if path.is_file()]
    else:
        identity["model"] = name
    settings = getattr(encoder, "settings", None)
    if dataclasses.is_dataclass(settings):
        # base_model records where the weights came from, not how vectors are computed
        identity["settings"] = {key: value for key, value in dataclasses.asdict(settings).items()
                                if key != "base_model"}
    return identity


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(FINGERPRINT_BYTES))
        if path.stat().st_size > 2 * FINGERPRINT_BYTES:
            handle.seek(-FINGERPRINT_BYTES, 2)
        digest.update(handle.read(FINGERPRINT_BYTES))
    return digest.hexdigest()


def open_cache(corpus: Corpus, encoder: Encoder, cache_root: str | Path, *, shard_rows: int = SHARD_ROWS,
               dtype: str | None = None) -> EmbeddingCache:
    """The cache of ``corpus`` as encoded by ``encoder``, created empty when new."""
    identity = {**model_identity(encoder, dtype=dtype), "file_sha256": corpus.sha256, "format": corpus.format}
    return EmbeddingCache.open(cache_root, rows=corpus.n_unique, dim=int(encoder.embedding_dim),
                               identity=identity, shard_rows=shard_rows)


def open_corpus_cache(corpus: Corpus, encoder: Encoder, options: EncodeOptions) -> EmbeddingCache:
    """The cache ``options`` name for ``corpus`` as ``encoder`` encodes it: what every engine opens."""
    return open_cache(corpus, encoder, options.root(), shard_rows=options.shard_rows, dtype=options.cache_dtype)


def embed_corpus(corpus: Corpus, encoder: Encoder, options: EncodeOptions,
                 part: Part = Part(0, 1)) -> EmbeddingCache:
    """Encode the missing shards that ``part`` owns; the cache, to seal with ``finish()`` once complete."""
    cache = open_corpus_cache(corpus, encoder, options)
    todo = [shard for shard in cache.missing_shards() if part.owns_shard(shard)]
    total = sum(cache.shards[s][1] - cache.shards[s][0] for s in todo)
    with progress_bar(total=total, desc=f"encode {corpus.path.name}", unit="sent", enabled=options.progress) as bar:
        for shard in todo:
            encode_shard(corpus, cache, encoder, options, shard, on_rows=bar.update)
    return cache


def encode_shard(corpus: Corpus, cache: EmbeddingCache, encoder: Encoder, options: EncodeOptions, shard: int,
                 on_rows: Callable[[int], object] = lambda rows: None) -> int:
    """Encode one shard chunk by chunk and write it; the rows encoded (a cluster engine's unit of work)."""
    device = options.device or ("cuda" if torch.cuda.is_available() else None)
    batch_size = options.batch_size
    texts = corpus.unique_texts(*cache.shards[shard])
    chunks = []
    for start, stop in row_chunks(len(texts), batch_size * CHUNK_BATCHES):
        chunks.append(np.asarray(encoder.encode(texts[start:stop], batch_size=batch_size, normalize=True,
                                                device=device, dtype=options.dtype, show_progress_bar=False,
                                                **options.precision_kwargs),
                                 dtype=np.float32))
        on_rows(stop - start)
    cache.write_shard(shard, np.concatenate(chunks))
    fault_point("after_shard_written", shard)
    return len(texts)
