"""Peak memory of a whole mining search against corpus size: bounded by the chunk and the index, not N×M.

Each configuration runs in a fresh process (so its peak RSS is its own): both kNN directions, ratio margin,
max retrieval, greedy one-to-one — ``mine_candidates`` as ``mlsimcse mine`` calls it — on float16
embedding files read through memory maps, as the embedding cache provides them. Exact search runs at the
sizes it finishes within the time budget here; the ``ivfpq`` index (IVF over 4-bit PQ codes, exact float16
re-ranking) runs up to a million sentences per side. Next to each
peak the table shows what the index needs (N·d float32) and what an N×M float32 similarity matrix would
need. The float16 inputs are memory-mapped, and the pages read count in RSS too (the page cache can drop
them). Embeddings are synthetic (bench_mining_synthetic.py), d=384; half the rows are planted
translations, and the share of them recovered is printed as a sanity check.

    python benchmarks/bench_mining_memory.py [--runs flat:20000 torch:20000 ivfpq:100000 ivfpq:1000000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads crawl on a shared CPU

import numpy as np  # noqa: E402
from bench_mining_synthetic import write_corpus_pair  # noqa: E402

GIB = 2 ** 30
DIM = 384
INDEX_BYTES_PER_ROW = {"flat": 4 * DIM, "ivf": 4 * DIM + 8, "hnsw": 4 * DIM + 8 * 32, "torch": 0,
                       "ivfpq": 2 * DIM + DIM // 8 + 8}
"""What one database row costs in each index: float32 vectors, float16 re-ranking copies plus 4-bit codes
for ivfpq, list ids and graph links (HNSW, M=32); the torch fallback has no index."""


def child(src_file: str, tgt_file: str, rows: int, kind: str, chunk_size: int, nprobe: int) -> None:
    """Mine the first ``rows`` rows of both files and print a JSON line with time, peak RSS and recovery."""
    from mlsimcse.mining import mine_candidates
    from mlsimcse.mining.knn import RowWindow
    from mlsimcse.mining.summary import peak_rss_bytes

    before = peak_rss_bytes()
    src = RowWindow(np.load(src_file, mmap_mode="r"), 0, rows)
    tgt = RowWindow(np.load(tgt_file, mmap_mode="r"), 0, rows)
    options = {"backend": "torch"} if kind == "torch" else {"backend": "faiss", "index": kind}
    if kind in ("ivf", "ivfpq"):
        options.update(nlist=int(math.sqrt(rows)), nprobe=nprobe)
    started = time.perf_counter()
    pairs = mine_candidates(src, tgt, greedy=True, chunk_size=chunk_size, progress=False, **options)
    seconds = time.perf_counter() - started
    top = slice(0, rows // 2)
    recovered = float(np.mean((pairs.src[top] == pairs.tgt[top]) & (pairs.src[top] % 2 == 0)))
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss_bytes(), "rss_before": before,
                      "pairs": len(pairs), "recovered": recovered}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["flat:20000", "torch:20000", "ivfpq:100000", "ivfpq:1000000"],
                        help="KIND:ROWS per run, KIND in flat (exact faiss), torch (exact), ivf, ivfpq, hnsw")
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--nprobe", type=int, default=4)
    parser.add_argument("--child", nargs=4, metavar=("SRC", "TGT", "ROWS", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        src, tgt, rows, kind = args.child
        child(src, tgt, int(rows), kind, args.chunk_size, args.nprobe)
        return

    runs = [(kind, int(rows)) for kind, rows in (run.split(":") for run in args.runs)]
    with tempfile.TemporaryDirectory() as folder:
        src_file, tgt_file = write_corpus_pair(Path(folder), max(rows for _, rows in runs))
        print(f"chunk size {args.chunk_size}, d={DIM}, IVF indexes with sqrt(N) lists and nprobe {args.nprobe}; "
              "sizes in GiB")
        print(f"{'kind':>6} {'rows/side':>10} {'seconds':>8} {'peak RSS GiB':>13} {'imports':>8} "
              f"{'mapped inputs':>14} {'one index':>10} {'NxM matrix':>11} {'recovered':>10}")
        peaks = {}
        for kind, rows in runs:
            command = [sys.executable, __file__, "--child", str(src_file), str(tgt_file), str(rows), kind,
                       "--chunk-size", str(args.chunk_size), "--nprobe", str(args.nprobe)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            peaks[(kind, rows)] = result["peak_rss"]
            print(f"{kind:>6} {rows:>10,} {result['seconds']:>8.1f} {result['peak_rss'] / GIB:>13.2f} "
                  f"{result['rss_before'] / GIB:>8.2f} {2 * rows * DIM * 2 / GIB:>14.2f} "
                  f"{rows * INDEX_BYTES_PER_ROW[kind] / GIB:>10.2f} {rows * rows * 4 / GIB:>11,.0f} "
                  f"{result['recovered']:>10.3f}", flush=True)
    largest = max(runs, key=lambda run: run[1])
    smallest = min((run for run in runs if run[0] == largest[0]), key=lambda run: run[1])
    growth = peaks[largest] / peaks[smallest]
    print(f"key: {largest[0]} peak RSS {peaks[largest] / GIB:.2f} GiB at {largest[1]:,} per side, "
          f"{growth:.1f}x the {smallest[1]:,} run for {largest[1] / smallest[1]:.0f}x the rows "
          f"(an N x M matrix would grow {(largest[1] / smallest[1]) ** 2:.0f}x)")


if __name__ == "__main__":
    main()
