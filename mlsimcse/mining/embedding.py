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

from mlsimcse.encoder_protocol import SentenceEncoderLike, embedding_dimension, encode_unit_rows, model_name
from mlsimcse.faults import fault_point
from mlsimcse.mining.cache import SHARD_ROWS, DiskEmbeddingCache
from mlsimcse.mining.corpus import Corpus
from mlsimcse.mining.options import EncodeOptions
from mlsimcse.mining.parts import Part
from mlsimcse.progress import progress_bar
from mlsimcse.row_chunks import row_chunks

CHUNK_BATCHES = 16
"""Batches handed to the encoder per call: large enough to keep it busy, small enough for live progress."""


FINGERPRINT_BYTES = 1 << 20
"""Bytes hashed at each end of a model file: enough to tell retrained weights apart, cheap for large files."""


PROBE_SENTENCES = ("The cat sat on the mat.", "Der Himmel ist blau.", "Le train part à huit heures.")
"""Encoded to tell apart an encoder that does not say where it was loaded from."""


def model_identity(encoder: SentenceEncoderLike, *, dtype: str | None = None) -> dict[str, Any]:
    """What decides the vectors: the model, its encoder settings and the compute dtype.

    A local model folder is identified by its files' contents (name, size and a hash of both ends), not
    its path or dates, so retraining into the same folder is noticed while a copy of the model on another
    machine still finds the shared cache. The dimension is left out on purpose: it is checked, not keyed.
    An encoder that names no model (a user's wrapper) is identified by its vectors for a few probe sentences.
    """
    name = model_name(encoder)
    identity: dict[str, Any] = {"dtype": dtype or "float32"}
    if name is None:
        probe = encode_unit_rows(encoder, PROBE_SENTENCES, batch_size=len(PROBE_SENTENCES))
        identity["probe_sha256"] = hashlib.sha256(np.round(probe, 4).tobytes()).hexdigest()
        return identity
    folder = Path(name).expanduser()
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


def open_cache(corpus: Corpus, encoder: SentenceEncoderLike, cache_root: str | Path, *, shard_rows: int = SHARD_ROWS,
               dtype: str | None = None) -> DiskEmbeddingCache:
    """The cache of ``corpus`` as encoded by ``encoder``, created empty when new."""
    identity = {**model_identity(encoder, dtype=dtype), "file_sha256": corpus.sha256, "format": corpus.format}
    return DiskEmbeddingCache.open(cache_root, rows=corpus.n_unique, dim=embedding_dimension(encoder, PROBE_SENTENCES),
                                   identity=identity, shard_rows=shard_rows)


def open_corpus_cache(corpus: Corpus, encoder: SentenceEncoderLike, options: EncodeOptions) -> DiskEmbeddingCache:
    """The cache ``options`` name for ``corpus`` as ``encoder`` encodes it: what every engine opens."""
    return open_cache(corpus, encoder, options.root(), shard_rows=options.shard_rows, dtype=options.cache_dtype)


def embed_corpus(corpus: Corpus, encoder: SentenceEncoderLike, options: EncodeOptions,
                 part: Part = Part(0, 1)) -> DiskEmbeddingCache:
    """Encode the missing shards that ``part`` owns; the cache, to seal with ``finish()`` once complete."""
    cache = open_corpus_cache(corpus, encoder, options)
    todo = [shard for shard in cache.missing_shards() if part.owns_shard(shard)]
    total = sum(cache.shards[s][1] - cache.shards[s][0] for s in todo)
    with progress_bar(total=total, desc=f"encode {corpus.path.name}", unit="sent", enabled=options.progress) as bar:
        for shard in todo:
            encode_shard(corpus, cache, encoder, options, shard, on_rows=bar.update)
    return cache


def encode_shard(corpus: Corpus, cache: DiskEmbeddingCache, encoder: SentenceEncoderLike, options: EncodeOptions, shard: int,
                 on_rows: Callable[[int], object] = lambda rows: None) -> int:
    """Encode one shard chunk by chunk and write it; the rows encoded (a cluster engine's unit of work)."""
    device = options.device or ("cuda" if torch.cuda.is_available() else None)
    batch_size = options.batch_size
    texts = corpus.unique_texts(*cache.shards[shard])
    chunks = []
    for start, stop in row_chunks(len(texts), batch_size * CHUNK_BATCHES):
        chunks.append(encode_unit_rows(encoder, texts[start:stop], batch_size=batch_size, device=device,
                                       dtype=options.dtype, precision=options.precision))
        on_rows(stop - start)
    cache.write_shard(shard, np.concatenate(chunks))
    fault_point("after_shard_written", shard)
    return len(texts)
