"""``mine`` end to end on real news text with the shared MiniLM: time per stage, memory, cache reuse, F1.

German and English WMT newstest sentences (line-aligned, so the true translation pairs are known) are
written as two monolingual files, the English side shuffled, and mined with ratio margin, max retrieval
and greedy one-to-one. The run is repeated to show the embedding cache at work. all-MiniLM-L6-v2 is an
English model, so the F1 here measures the pipeline, not a multilingual encoder's quality.

    python benchmarks/bench_mining_e2e.py [--sentences 5000] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads crawl on a shared CPU
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mlsimcse.mining.options import EncodeOptions, ModelSpec, ScoringOptions  # noqa: E402
from mlsimcse.mining.pipeline import mine_corpora  # noqa: E402
from mlsimcse.paths import data_root, default_base_model  # noqa: E402


def news_pairs(limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct (German, English) translation pairs from the staged WMT de-en test sets."""
    folder = data_root() / "wmt_newstest"
    files = [(folder / "multiway" / f"newstest{year}.de", folder / "multiway" / f"newstest{year}.en")
             for year in range(2008, 2014)]
    files += [(folder / "de-en" / f"newstest{year}.de-en.de", folder / "de-en" / f"newstest{year}.de-en.en")
              for year in range(2014, 2021)]
    pairs: dict[str, str] = {}
    for german_file, english_file in files:
        german = german_file.read_text(encoding="utf-8").splitlines()
        english = english_file.read_text(encoding="utf-8").splitlines()
        for de, en in zip(german, english):
            if de.strip() and en.strip() and "\t" not in de + en:
                pairs.setdefault(de, en)
            if len(pairs) == limit:
                return list(pairs.items())
    return list(pairs.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=5000, help="sentences per side (WMT de-en has ~33k)")
    parser.add_argument("--model", default=None, help="encoder (default: the shared all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    pairs = news_pairs(args.sentences)
    gold = dict(pairs)
    english = [en for _, en in pairs]
    random.Random(0).shuffle(english)
    with tempfile.TemporaryDirectory() as folder:
        src, tgt = Path(folder) / "news.de", Path(folder) / "news.en"
        src.write_text("\n".join(de for de, _ in pairs) + "\n", encoding="utf-8")
        tgt.write_text("\n".join(english) + "\n", encoding="utf-8")
        encoding = EncodeOptions(cache_dir=Path(folder) / "cache", batch_size=args.batch_size)
        model = ModelSpec(args.model or default_base_model())
        runs = []
        for attempt in ("first run", "second run (cache reused)"):
            out = Path(folder) / "pairs.tsv"
            summary = mine_corpora(src, tgt, out, model, scoring=ScoringOptions(greedy=True), encoding=encoding)
            rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
            correct = sum(gold.get(de) == en for _, de, en in rows)
            precision, recall = correct / max(len(rows), 1), correct / len(gold)
            f1 = 2 * precision * recall / max(precision + recall, 1e-9)
            print(f"== {attempt}: {len(pairs):,} sentences per side\n{summary.format()}")
            print(f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f} against the WMT alignment\n")
            runs.append(summary)
    first, second = (sum(run.stage_seconds.values()) for run in runs)
    encode = runs[0].stage_seconds["encode"]
    print(f"key: {len(pairs):,} x {len(pairs):,} sentences mined in {first:.1f}s ({encode:.1f}s encoding, "
          f"{2 * len(pairs) / encode:.0f} sentences/s); rerun with cached embeddings {second:.1f}s; F1 {f1:.3f}")


if __name__ == "__main__":
    main()
