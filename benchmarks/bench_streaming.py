"""Stream millions of generated sentences through MixtureBatchSampler and report memory.

Shows that a streaming source keeps memory flat: the JSONL file is indexed once (a few byte ranges per
language) and then read a chunk at a time, so resident memory stays at a few hundred MiB whether the file
holds 5 million sentences or 500 million. Sentences are generated (distinct, in five languages of very
different sizes) because no corpus of that size ships with the project.

    python benchmarks/bench_streaming.py --sentences 5000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
from tqdm.auto import tqdm

from mlsimcse.data import MixtureBatchSampler, MixtureConfig, SourceSpec
from mlsimcse.data.sampler import temperature_probabilities
from mlsimcse.records import Example

LANGUAGE_SHARES = {"en": 0.5, "de": 0.25, "fr": 0.15, "ja": 0.07, "sw": 0.03}
WORDS = "river light stone paper window music garden morning silver yellow quiet market".split()


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def generate(path: Path, total: int) -> dict[str, int]:
    """Write ``total`` distinct sentences, grouped by language as ``mlsimcse data build`` writes them."""
    sizes = {lang: int(total * share) for lang, share in LANGUAGE_SHARES.items()}
    sizes["en"] += total - sum(sizes.values())
    with open(path, "w", encoding="utf-8") as handle, tqdm(total=total, desc="generate", unit="sent") as bar:
        for lang, size in sizes.items():
            for i in range(size):
                words = " ".join(WORDS[(i >> shift) % len(WORDS)] for shift in (0, 4, 8, 12))
                handle.write(Example("unsup", (f"{lang} {i}: the {words}.",), (lang,)).to_json() + "\n")
                if i % 10_000 == 0:
                    bar.update(min(10_000, size - i))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=5_000_000, help="sentences to generate and stream")
    parser.add_argument("--batch-size", type=int, default=512, help="global batch size")
    parser.add_argument("--alpha", type=float, default=0.5, help="language temperature exponent")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as folder:
        path = Path(folder) / "generated.jsonl"
        start = time.perf_counter()
        sizes = generate(path, args.sentences)
        print(f"generated {args.sentences:,} sentences, {path.stat().st_size / 2**30:.2f} GiB, "
              f"in {time.perf_counter() - start:.0f} s; RSS {rss_mib():.0f} MiB")

        start = time.perf_counter()
        config = MixtureConfig([SourceSpec(str(path), streaming=True)], language_alpha=args.alpha)
        sampler = MixtureBatchSampler(config, batch_size=args.batch_size, seed=0)
        rss_after_index = rss_mib()
        print(f"indexed in {time.perf_counter() - start:.0f} s; RSS {rss_after_index:.0f} MiB")

        batches = -(-args.sentences // args.batch_size)
        languages: Counter[str] = Counter()
        samples = []
        start = time.perf_counter()
        for index in tqdm(range(batches), desc="stream", unit="batch"):
            batch = sampler.next_batch()
            languages.update(example.langs[0] for example in batch)
            if index % max(1, batches // 10) == 0:
                samples.append(rss_mib())
        seconds = time.perf_counter() - start
        streamed = batches * args.batch_size
        print(f"streamed {streamed:,} examples in {seconds:.0f} s ({streamed / seconds:,.0f} examples/s)")
        print("RSS every tenth of the stream (MiB): " + " ".join(f"{value:.0f}" for value in samples))
        expected = temperature_probabilities(list(sizes.values()), args.alpha)
        for (lang, size), p in zip(sizes.items(), expected):
            print(f"  {lang}: {size:>9,} sentences, drawn {languages[lang] / streamed:.3f} (temperature target {p:.3f})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        growth = max(samples) - rss_after_index
        print(f"peak RSS {peak:.0f} MiB streaming {streamed:,} examples from a {path.stat().st_size / 2**30:.2f} GiB "
              f"file; RSS growth while streaming {growth:+.0f} MiB")


if __name__ == "__main__":
    main()
