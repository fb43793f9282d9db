"""``mine --engine ray`` on 1 and 2 local Ray workers against the local engine, and the per-stage rates
that the scale-on-paper projection in benchmarks/README.md starts from.

Part 1 mines the same WMT de-en news (the English side shuffled) with the shared MiniLM four times, each
with a fresh embedding cache: the local engine with 1 and with 2 torch threads, then Ray with 1 and 2
workers of one CPU each on a local cluster started once. It checks that all four outputs are the same
bytes and prints the speed-up from 1 to 2 workers and the overhead of Ray against the local engine at the
same CPU count. It also times what a worker pays before its first shard (process start, imports, model
load): the cost a task-per-shard design would pay again for every shard, which is why the engine keeps one
model per actor.

Part 2 measures, on synthetic data, the stage rates a larger run is projected from: exact and IVF-PQ
search through ``exact_knn`` (what the mining stages call), the merge (combine parts, margin-score,
greedy one-to-one), reading a corpus (and the memory its line index holds) and writing pairs; part 1
adds the tokenizer's rate alone, the CPU work that feeds a GPU encoder.

    python benchmarks/bench_mining_ray.py [--sentences 1000] [--shard-rows 250] [--rates-rows 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads crawl on a shared CPU
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_mining_e2e import news_pairs  # noqa: E402
from bench_mining_synthetic import write_corpus_pair  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from mlsimcse.mining.cache import ShardedEmbeddings  # noqa: E402
from mlsimcse.mining.corpus import read_corpus  # noqa: E402
from mlsimcse.mining.knn import Neighbours, SearchConfig, exact_knn, knn_search  # noqa: E402
from mlsimcse.mining.margin import score_neighbours  # noqa: E402
from mlsimcse.mining.options import EncodeOptions, ModelSpec, ScoringOptions  # noqa: E402
from mlsimcse.mining.output import write_pairs  # noqa: E402
from mlsimcse.mining.parts import Part, SearchPart, combine_parts  # noqa: E402
from mlsimcse.mining.pipeline import mine_corpora  # noqa: E402
from mlsimcse.mining.summary import MiningSummary  # noqa: E402
from mlsimcse.mining.ray_engine import RayOptions, mine_on_ray  # noqa: E402
from mlsimcse.paths import default_base_model  # noqa: E402


def worker_start_seconds(ray, model: ModelSpec) -> float:
    """Seconds from asking for a fresh one-CPU worker to its model being loaded and ready."""
    from mlsimcse.mining.ray_engine import MiningWorker

    started = time.perf_counter()
    worker = ray.remote(num_cpus=1)(MiningWorker).remote(model, EncodeOptions(), "auto")
    ray.get(worker.pid.remote())
    seconds = time.perf_counter() - started
    ray.kill(worker)
    return seconds


def compare_engines(args, folder: Path) -> None:
    import ray

    pairs = news_pairs(args.sentences)
    english = [en for _, en in pairs]
    random.Random(0).shuffle(english)
    src, tgt = folder / "news.de", folder / "news.en"
    src.write_text("\n".join(de for de, _ in pairs) + "\n", encoding="utf-8")
    tgt.write_text("\n".join(english) + "\n", encoding="utf-8")
    model = ModelSpec(args.model or default_base_model())
    scoring, search = ScoringOptions(greedy=True), SearchConfig(progress=False)

    def encoding(name: str) -> EncodeOptions:
        return EncodeOptions(cache_dir=folder / name, shard_rows=args.shard_rows, progress=False)

    runs: dict[str, tuple[float, MiningSummary, bytes]] = {}

    def record(name: str, run) -> None:
        out = folder / f"{name}.tsv"
        started = time.perf_counter()
        summary = run(out)
        runs[name] = (time.perf_counter() - started, summary, out.read_bytes())
        stages = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in summary.stage_seconds.items())
        print(f"{name:<18} {runs[name][0]:7.1f} s wall  ({stages})", flush=True)

    threads = torch.get_num_threads()
    for count in (1, 2):
        torch.set_num_threads(count)
        record(f"local, {count} thread{'s' * (count > 1)}",
               lambda out, name=f"local{count}": mine_corpora(src, tgt, out, model, scoring=scoring, search=search,
                                                              encoding=encoding(name)))
    torch.set_num_threads(threads)

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2 ** 20, log_to_driver=False)
    cluster_start = time.perf_counter() - started
    try:
        worker_start = worker_start_seconds(ray, model)
        for count in (1, 2):
            record(f"ray, {count} worker{'s' * (count > 1)}",
                   lambda out, count=count: mine_on_ray(src, tgt, out, model,
                                                        cluster=RayOptions(num_workers=count, progress=False),
                                                        scoring=scoring, search=search,
                                                        encoding=encoding(f"ray{count}")))
    finally:
        ray.shutdown()

    outputs = {output for _, _, output in runs.values()}
    (local1, local1_run, _), (local2, _, _) = runs["local, 1 thread"], runs["local, 2 threads"]
    (ray1, ray1_run, _), (ray2, _, _) = runs["ray, 1 worker"], runs["ray, 2 workers"]
    sentences = local1_run.src_unique + local1_run.tgt_unique
    shards = -(-local1_run.src_unique // args.shard_rows) - (-local1_run.tgt_unique // args.shard_rows)
    shard_seconds = local1_run.stage_seconds["encode"] / shards
    print(f"\n{len(pairs):,} sentences per side, {shards} shards of {args.shard_rows}; all four outputs "
          f"{'byte-identical' if len(outputs) == 1 else 'DIFFER'}")
    print(f"cluster start (ray.init, 2 CPUs) {cluster_start:.1f} s, not counted above")
    print(f"a fresh worker until its model is loaded: {worker_start:.1f} s; one {args.shard_rows}-sentence shard "
          f"encodes in {shard_seconds:.1f} s on one thread, so a task per shard would add "
          f"{worker_start / shard_seconds:.1f}x its encoding time per shard (an actor pays it once)")
    print(f"local encoding on one thread: {sentences / local1_run.stage_seconds['encode']:.1f} sentences/s; "
          f"ray 1 worker, encode stage with worker start: {sentences / ray1_run.stage_seconds['encode']:.1f}")
    texts = [de for de, _ in pairs] + english
    tokenizer = AutoTokenizer.from_pretrained(model.name_or_path)
    seconds, _ = timed(lambda: tokenizer(texts * 5, truncation=True, max_length=256))
    print(f"tokenizing alone (one thread): {5 * len(texts) / seconds:,.0f} sentences/s")
    print(f"key: ray 2 workers vs 1: x{ray1 / ray2:.2f} speed-up; overhead against the local engine: "
          f"1 worker {ray1 - local1:+.1f} s ({ray1 / local1 - 1:+.0%} vs 1 thread), "
          f"2 workers {ray2 - local2:+.1f} s ({ray2 / local2 - 1:+.0%} vs 2 threads)")


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def stage_rates(args, folder: Path) -> None:
    rows = args.rates_rows
    src_file, tgt_file = write_corpus_pair(folder, rows)
    src, tgt = (ShardedEmbeddings([path], rows, rows, 384) for path in (src_file, tgt_file))
    print(f"\nstage rates on synthetic data ({rows:,} x {rows:,}, 384-d float16, {torch.get_num_threads()} threads)")
    for name, config in (("flat", SearchConfig(progress=False)),
                         ("ivfpq", SearchConfig(index="ivfpq", nprobe=16, progress=False))):
        plain = min(timed(lambda: knn_search(src, tgt, 4, config))[0] for _ in range(2))  # best of two: warm-up
        exact = min(timed(lambda: exact_knn(src, tgt, 4, config))[0] for _ in range(2))
        print(f"search {name:<6} {rows / exact:9,.0f} queries/s through exact_knn "
              f"({rows / plain:,.0f} with knn_search alone: re-scoring costs {exact / plain - 1:+.0%})")

    rng = np.random.default_rng(0)
    n, k, count = args.merge_rows, 4, 4

    def neighbours() -> Neighbours:
        sims = -np.sort(-rng.random((n, k), dtype=np.float32), axis=1)
        return Neighbours(sims, rng.integers(0, n, (n, k)))

    forward, backward = neighbours(), neighbours()
    parts = []
    for index in range(count):
        start, stop = Part(index, count).rows(n)
        parts.append(SearchPart(Part(index, count), (start, stop), Neighbours(forward.sims[start:stop],
                                forward.ids[start:stop]), backward, {"k": k}))
    seconds, (merged_fwd, merged_bwd) = timed(lambda: combine_parts(parts, n))
    score_seconds, mined = timed(lambda: score_neighbours(merged_fwd, merged_bwd, greedy=True))
    print(f"merge  {n / (seconds + score_seconds):9,.0f} rows/s (combine {count} parts {seconds:.1f} s, "
          f"margin score + greedy {score_seconds:.1f} s for {n:,} rows per side)")

    corpus_file = folder / "lines.txt"
    corpus_file.write_text("".join(f"sentence number {i} of the synthetic corpus\n" for i in range(n)))
    read_seconds, corpus = timed(lambda: read_corpus(corpus_file))
    tracemalloc.start()  # a second read, traced: tracing slows the Python loop, so it is not the one timed
    traced = read_corpus(corpus_file)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    write_seconds, written = timed(lambda: write_pairs(folder / "pairs.tsv", mined, corpus, corpus))
    print(f"read   {n / read_seconds:9,.0f} lines/s (scan, hash, de-duplicate), index {held / n:.0f} bytes/line "
          f"held, {peak / n:.0f} at peak; write {written / write_seconds:,.0f} pairs/s ({written:,} text rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1000, help="WMT sentences per side (default 1000)")
    parser.add_argument("--shard-rows", type=int, default=250, help="cache shard size (default 250)")
    parser.add_argument("--model", default=None, help="encoder (default: the shared all-MiniLM-L6-v2)")
    parser.add_argument("--rates-rows", type=int, default=10000, help="synthetic search size per side")
    parser.add_argument("--merge-rows", type=int, default=1_000_000, help="synthetic merge/read/write rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        compare_engines(args, Path(folder))
        stage_rates(args, Path(folder))


if __name__ == "__main__":
    main()
