"""``mine --engine ray``: the three stages of the split form, scheduled on a Ray cluster.

The stages and their files are those of ``mine-embed``, ``mine-search`` and ``mine-merge``; Ray only does
what a user would otherwise script around them: placement, retries and progress.

- **Embed**: ``num_workers`` actors each load the model once (on its own GPU with ``gpus_per_worker=1``) and
  are handed one missing cache shard at a time, the next to whoever is free, so a fast worker takes more
  shards and a retry redoes one shard.
- **Search**: the same actors then take one source part (``Part`` i/P) each, read the finished shards from
  the shared cache directory and write the part's neighbour file atomically under
  ``<cache-dir>/parts/<key>/``.
- **Merge**: on the driver, ``merge_files`` as ``mine-merge`` runs it, writing the output atomically.

Why actors, measured here (``benchmarks/bench_mining_ray.py``): a fresh worker spends seconds (6.5-11 s on
this loaded 2-core machine) starting, importing torch and loading the model before its first sentence, which
a task per shard would pay again for every shard. That is little against a 32,768-sentence shard on one CPU
core (10-20 minutes here) but most of the time on a GPU, which encodes such a shard in about a second
(projected in benchmarks/README.md). A search task in a fresh worker paid the imports again (24 s for two
parts that took 0.2 s in the warm actors), and idle task workers that had loaded torch and faiss aborted
noisily when Ray reaped them. Ray Data's ``map_batches`` would hold one model per actor too, but it needs
the ``ray[data]`` extra and moves batches of texts and vectors through the object store, and its outputs
would bypass the cache's atomic, checksummed shards that make retries and reruns exact.

Only paths, shard numbers and small cache descriptions travel through Ray's object store; embeddings and
neighbour lists go through the shared cache directory, so the store stays small whatever the corpus size.
Fault tolerance is Ray's plus the stage design: a worker killed mid-call is restarted and the call run again
(shard and part files appear only whole), and a rerun after the driver died finds every finished shard and
part on disk and redoes only the rest. With exact search the output is byte-identical to ``mine``'s run with
as many torch threads as a worker has CPUs, as the split form's is (``exact_knn`` makes similarities independent
of how the search is cut). The thread count is part of that: on some CPUs (AVX2 without AVX-512, seen in CI) the
encoder's float sums round differently on one thread than on two, moving a vector by about 1e-7.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from mlsimcse.encoder_protocol import SentenceEncoderLike
from mlsimcse.errors import InputError
from mlsimcse.mining.cache import DiskEmbeddingCache, cache_key
from mlsimcse.mining.corpus import Corpus, read_corpus
from mlsimcse.mining.embedding import encode_shard, open_corpus_cache
from mlsimcse.mining.knn import SearchConfig
from mlsimcse.mining.options import EncodeOptions, ModelSpec, ScoringOptions, as_encoder
from mlsimcse.mining.parts import Part, save_search_part
from mlsimcse.mining.pipeline import merge_files, search_part
from mlsimcse.mining.ray_cluster import RayOptions, ray_session, require_ray
from mlsimcse.mining.summary import MiningSummary
from mlsimcse.progress import progress_bar

logger = logging.getLogger(__name__)

RETRIES = 3
"""How often Ray restarts a dead worker, and retries the shard or part it was on, before giving up."""


@dataclass(frozen=True)
class OpenedCorpus:
    """What the driver learns about one corpus from a worker: its hash, size and embedding cache."""

    path: Path
    sha256: str
    n_unique: int
    cache: DiskEmbeddingCache


class MiningWorker:
    """A Ray actor: one model copy, the corpora and caches it has opened (by path), and both stages' work.

    A model that fails to load is reported by the first call, not by the constructor: Ray turns an error
    in an actor's constructor into restarts and then an untyped "actor died", which would hide a plain
    bad ``--model`` behind a cluster error.

    The worker computes on ``threads`` torch threads, set here rather than left to the ``OMP_NUM_THREADS``
    that Ray may or may not export, because the vectors can depend on the thread count (module docstring).
    """

    def __init__(self, model: SentenceEncoderLike | ModelSpec | str, encoding: EncodeOptions, file_format: str,
                 threads: int = 1):
        torch.set_num_threads(threads)
        self.load_error: InputError | None = None
        try:
            self.encoder = as_encoder(model)
        except InputError as err:
            self.load_error = err
        self.encoding = replace(encoding, progress=False)
        self.file_format = file_format
        self.opened: dict[Path, tuple[Corpus, DiskEmbeddingCache]] = {}

    def open(self, path: Path) -> OpenedCorpus:
        corpus, cache = self._opened(path)
        return OpenedCorpus(corpus.path, corpus.sha256, corpus.n_unique, cache)

    def encode(self, path: Path, shard: int) -> int:
        """Encode and write one shard of the corpus at ``path``; the sentences encoded."""
        corpus, cache = self._opened(path)
        return encode_shard(corpus, cache, self.encoder, self.encoding, shard)

    def search(self, src: OpenedCorpus, tgt: OpenedCorpus, part: Part, k: int, search: SearchConfig,
               out_path: Path) -> int:
        """Search one source part over the shared shards and save it; the source rows searched.

        The corpora's line indexes are dropped first: searching needs only the shards, and at scale the
        indexes are the largest thing a worker holds (32 bytes a line, see benchmarks/README.md).
        """
        self.opened.clear()
        found = search_part(src.cache.finish(), tgt.cache.finish(), part, k, replace(search, progress=False))
        save_search_part(out_path, replace(found, meta={**found.meta, "src_sha256": src.sha256,
                                                        "tgt_sha256": tgt.sha256}))
        return found.src_rows[1] - found.src_rows[0]

    def pid(self) -> int:
        return os.getpid()

    def _opened(self, path: Path) -> tuple[Corpus, DiskEmbeddingCache]:
        if self.load_error is not None:
            raise self.load_error
        if path not in self.opened:
            corpus = read_corpus(path, self.file_format)
            self.opened[path] = corpus, open_corpus_cache(corpus, self.encoder, self.encoding)
        return self.opened[path]


def mine_on_ray(src_path: str | Path, tgt_path: str | Path, out_path: str | Path,
                encoder: SentenceEncoderLike | ModelSpec | str, *, cluster: RayOptions = RayOptions(),
                scoring: ScoringOptions = ScoringOptions(), search: SearchConfig = SearchConfig(),
                encoding: EncodeOptions = EncodeOptions(), file_format: str = "auto") -> MiningSummary:
    """Mine ``src_path`` against ``tgt_path`` into ``out_path``, embedding and searching on Ray workers."""
    ray = require_ray()
    paths = [Path(src_path).resolve(), Path(tgt_path).resolve()]
    seconds: dict[str, float] = {}
    with ray_session(ray, cluster):
        worker_class = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES,
                                  **cluster.resources())(MiningWorker)
        workers = [worker_class.remote(encoder, encoding, file_format, cluster.threads_per_worker())
                   for _ in range(cluster.num_workers)]
        try:
            started = time.perf_counter()
            opened = embed_stage(ray, workers, paths, cluster.progress)
            seconds["encode"] = time.perf_counter() - started
            started = time.perf_counter()
            part_paths = search_stage(ray, workers, opened, scoring.k, search, encoding.root(), cluster.progress)
            seconds["search"] = time.perf_counter() - started
        finally:
            for worker in workers:
                ray.kill(worker)
    summary = merge_files(*paths, part_paths, out_path, scoring=scoring, file_format=file_format)
    return dataclasses.replace(summary, stage_seconds={**seconds, **summary.stage_seconds})


def embed_stage(ray, workers: Sequence[Any], paths: Sequence[Path], progress: bool) -> list[OpenedCorpus]:
    """Fill both corpora's caches, one missing shard per call, and seal them; the opened corpora."""
    opened = _get(ray, [workers[i % len(workers)].open.remote(path) for i, path in enumerate(paths)])
    jobs = [("encode", (corpus.path, shard)) for corpus in opened for shard in corpus.cache.missing_shards()]
    logger.info("embedding: %d of %d shards to encode", len(jobs), sum(len(c.cache.shards) for c in opened))
    with StageBar("embed", len(jobs), "shard", "sentences", progress) as bar:
        run_on_workers(ray, workers, jobs, bar)
    for corpus in opened:
        corpus.cache.finish()  # seal: the manifest is written once every shard is on disk
    return opened


def search_stage(ray, workers: Sequence[Any], opened: Sequence[OpenedCorpus], k: int, search: SearchConfig,
                 cache_root: Path, progress: bool) -> list[Path]:
    """Search one source part per worker, skipping parts a previous run finished; the part files."""
    src, tgt = opened
    count = min(len(workers), src.n_unique)
    folder = parts_folder(cache_root, src, tgt, k, search, count)
    part_paths = [folder / f"part-{i:05d}-of-{count:05d}.npz" for i in range(count)]
    jobs = [("search", (src, tgt, Part(i, count), k, search, path))
            for i, path in enumerate(part_paths) if not path.is_file()]
    logger.info("search: %d of %d parts to search (%s)", len(jobs), count, folder)
    with StageBar("search", len(jobs), "part", "queries", progress) as bar:
        run_on_workers(ray, workers, jobs, bar)
    return part_paths


def run_on_workers(ray, workers: Sequence[Any], jobs: Sequence[tuple[str, tuple]], bar: "StageBar") -> None:
    """Run ``(method, args)`` calls keeping each worker busy with one at a time, the next to whoever is free.

    A worker that dies mid-call is restarted by Ray and the call retried on it (``max_task_retries``);
    every call writes its result atomically to the shared cache, so a retried call changes nothing.
    """
    pending, idle, running = deque(jobs), list(workers), {}
    while pending or running:
        while idle and pending:
            worker = idle.pop()
            method, args = pending.popleft()
            running[getattr(worker, method).remote(*args)] = worker
        done, _ = ray.wait(list(running), num_returns=1)
        bar.finished(_get(ray, done[0]))
        idle.append(running.pop(done[0]))


def parts_folder(cache_root: Path, src: OpenedCorpus, tgt: OpenedCorpus, k: int, search: SearchConfig,
                 count: int) -> Path:
    """Where the part files of one search live: named by everything that decides their contents.

    The caches' folder names already hash the model, the files and the shard layout; the search settings
    and the number of parts complete the key, so a part file found there is always the one wanted.
    """
    settings = {name: value for name, value in dataclasses.asdict(search).items() if name != "progress"}
    key = cache_key({"src": src.cache.folder.name, "tgt": tgt.cache.folder.name, "k": k, "search": settings,
                     "parts": count})
    return Path(cache_root) / "parts" / key


class StageBar:
    """One progress bar per stage on the driver: units of work done of the total, items per second."""

    def __init__(self, stage: str, total: int, unit: str, item: str, enabled: bool):
        self.bar = progress_bar(total=total, desc=f"ray {stage}", unit=unit, enabled=enabled)
        self.item = item
        self.items = 0
        self.started = time.perf_counter()

    def finished(self, items: int) -> None:
        self.items += items
        rate = self.items / max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{rate:,.0f} {self.item}/s", refresh=False)
        self.bar.update(1)

    def __enter__(self) -> "StageBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


def _get(ray, refs):
    """``ray.get``, with bad input found on a worker raised here as the ``InputError`` it was."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, InputError):
            raise err.cause from None
        raise
