"""Search throughput of the mining backends, how it grows with corpus size, and approximate-index recall.

For each database size (target rows) a fixed sample of source rows is searched for its k nearest
neighbours with exact faiss (``IndexFlatIP``), approximate faiss (``ivf``: IVF-Flat; ``ivfpq``: IVF over
4-bit PQ codes with exact float16 re-ranking) and the chunked torch fallback.
Search time is linear in the number of queries, so the sample's rate (queries per second) gives the time
a full N×N direction would take: ``build + N / rate``. That time grows quadratically for exact search and
about as N^1.5 for IVF with sqrt(N) lists (the benchmark's choice, cheaper to train here than the library
default of 4·sqrt(N)); the fitted exponents are printed. Recall@k of the IVF indexes is measured against
exact faiss on the same queries. Embeddings are synthetic (see bench_mining_synthetic.py), d=384,
read from float16 files as the embedding cache stores them.

    python benchmarks/bench_mining_search.py [--sizes 10000 30000 100000 300000 1000000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads crawl on a shared CPU

import numpy as np  # noqa: E402
from bench_mining_synthetic import write_corpus_pair  # noqa: E402

from mlsimcse.mining.faiss_search import build_index  # noqa: E402
from mlsimcse.mining.knn import RowWindow, SearchConfig, knn_search  # noqa: E402


def timed_search(queries: np.ndarray, database, k: int, config: SearchConfig) -> tuple[float, float, np.ndarray]:
    """(seconds to build the index, seconds to search the queries, neighbour ids).

    faiss is timed through the library's own index builder, so building and searching are told apart;
    the torch fallback has no index and is timed whole.
    """
    if config.backend == "torch":
        started = time.perf_counter()
        found = knn_search(queries, database, k, config)
        return 0.0, time.perf_counter() - started, found.ids
    started = time.perf_counter()
    index = build_index(database, config)
    built = time.perf_counter() - started
    started = time.perf_counter()
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return built, time.perf_counter() - started, ids


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), truth.tolist())]))


def slope(sizes: list[int], seconds: list[float]) -> float:
    """Exponent of the power law through the points: 2 for quadratic growth, 1 for linear."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000, help="source rows searched per measurement")
    parser.add_argument("--torch-up-to", type=int, default=300_000, help="largest size the torch fallback runs")
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        src_file, tgt_file = write_corpus_pair(Path(folder), max(args.sizes))
        src, tgt = np.load(src_file, mmap_mode="r"), np.load(tgt_file, mmap_mode="r")
        queries = np.asarray(src[:args.queries])
        timed_search(queries, RowWindow(tgt, 0, 1000), args.k, SearchConfig(backend="torch", progress=False))
        print(f"{args.queries} queries, d={src.shape[1]}, k={args.k}, float16 inputs")
        print(f"{'size':>9} {'backend':>12} {'build s':>8} {'search s':>9} {'queries/s':>10} "
              f"{'est. N x N s':>13} {'recall@k':>9}  index")
        full_time: dict[str, list[float]] = {"faiss exact": [], "faiss ivf": [], "faiss ivfpq": [], "torch exact": []}
        rate_at: dict[tuple[str, int], float] = {}
        recall_at: dict[tuple[str, int], float] = {}
        for size in args.sizes:
            database = RowWindow(tgt, 0, size)
            nlist = max(1, int(math.sqrt(size)))
            runs = {"faiss exact": SearchConfig(backend="faiss", progress=False)}
            for index in ("ivf", "ivfpq"):
                runs[f"faiss {index}"] = SearchConfig(backend="faiss", index=index, nlist=nlist, nprobe=args.nprobe,
                                                      progress=False)
            if size <= args.torch_up_to:
                runs["torch exact"] = SearchConfig(backend="torch", progress=False)
            truth = None
            for name, config in runs.items():
                built, searched, ids = timed_search(queries, database, args.k, config)
                rate = len(queries) / searched
                estimate = built + size / rate
                full_time[name].append(estimate)
                rate_at[(name, size)] = rate
                if name == "faiss exact":
                    truth = ids
                quality = recall(ids, truth)
                recall_at[(name, size)] = quality
                index = "exact" if "exact" in name else f"{nlist} lists, nprobe {args.nprobe}"
                print(f"{size:>9,} {name:>12} {built:>8.1f} {searched:>9.2f} {rate:>10,.0f} {estimate:>13,.0f} "
                      f"{quality:>9.3f}  {index}", flush=True)
        print()
        for name, seconds in full_time.items():
            if len(seconds) > 1:
                measured = args.sizes[:len(seconds)]
                print(f"growth of one full N x N direction, {name}: ~N^{slope(measured, seconds):.2f}")
        reference = 100_000 if 100_000 in args.sizes else args.sizes[-1]
        rates = ", ".join(f"{name} {rate_at[(name, reference)]:,.0f}" for name in full_time
                          if (name, reference) in rate_at)
        recalls = ", ".join(f"{name} {recall_at[(name, reference)]:.3f}" for name in ("faiss ivf", "faiss ivfpq"))
        print(f"key: queries/s at {reference:,} x {reference:,}: {rates}; recall@{args.k}: {recalls}")


if __name__ == "__main__":
    main()
