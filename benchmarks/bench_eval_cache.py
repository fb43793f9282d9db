"""Encode-once evaluation: sentences the tasks reference vs sentences actually encoded, and the time it saves.

Part 1 runs each suite on the real data with a counting stand-in encoder (instant), so the counts are exact
and cheap. Part 2 times the real model on a few tasks that share sentences, once through the embedding
cache and once encoding every task's sentences separately, as per-task evaluators do.

    python benchmarks/bench_eval_cache.py [--model PATH] [--timing-tasks stsb:en xstsb:en-de geometry]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402

from mlsimcse.evaluation import EmbeddingCache, load_tasks, resolve_tasks, score_loaded  # noqa: E402
from mlsimcse.paths import default_base_model  # noqa: E402


class CountingEncoder:
    """Random unit vectors; stands in for a model when only the counts matter."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def encode(self, sentences, batch_size=64, show_progress_bar=None, **kwargs):
        return self.rng.standard_normal((len(sentences), 8)).astype(np.float32)


def suite_counts(suite: str) -> dict[str, int]:
    cache = EmbeddingCache(CountingEncoder())
    score_loaded(load_tasks(resolve_tasks(suite)), cache)
    return cache.stats()


def time_real_model(model_path: str, tasks: list[str], batch_size: int) -> tuple[float, float, dict[str, int]]:
    from mlsimcse.encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(model_path, pooling="mean")
    loaded = load_tasks(resolve_tasks(tasks))
    started = time.perf_counter()
    for item in loaded:  # what separate per-task evaluators do: encode each task's sentences on their own
        encoder.encode(item.data.sentences(), batch_size=batch_size, show_progress_bar=False)
    separate = time.perf_counter() - started
    cache = EmbeddingCache(encoder, batch_size=batch_size, show_progress_bar=False)
    started = time.perf_counter()
    score_loaded(loaded, cache)
    cached = time.perf_counter() - started
    return separate, cached, cache.stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_base_model(), help="model to time (default: the shared MiniLM)")
    parser.add_argument("--timing-tasks", nargs="+", default=["stsb:en", "xstsb:en-de", "geometry"])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    quick = None
    for suite in ("quick", "english-senteval", "full"):
        stats = suite_counts(suite)
        ratio = stats["sentences_referenced"] / stats["sentences_encoded"]
        print(f"suite {suite:17s} referenced {stats['sentences_referenced']:7d}  "
              f"encoded {stats['sentences_encoded']:7d}  ratio {ratio:.2f}")
        quick = quick or (stats, ratio)

    separate, cached, stats = time_real_model(args.model, args.timing_tasks, args.batch_size)
    print(f"real model on {' '.join(args.timing_tasks)}: referenced {stats['sentences_referenced']}, "
          f"encoded {stats['sentences_encoded']}; separate per-task encoding {separate:.1f} s, "
          f"encode-once {cached:.1f} s (x{separate / cached:.2f})")
    stats, ratio = quick
    print(f"encode-once: quick suite references {stats['sentences_referenced']} sentences and encodes "
          f"{stats['sentences_encoded']} (x{ratio:.2f} fewer); timed speed-up x{separate / cached:.2f}")


if __name__ == "__main__":
    main()
