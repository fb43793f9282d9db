"""Encoding throughput: ``SentenceEncoder.encode`` against sentence-transformers' ``encode`` on the same text.

Both encode the same 10,000 real sentences with the shared all-MiniLM-L6-v2 (same weights, same 256-token cap):
news sentences from NTREX-128, STS-B test sentences and Tatoeba sentences in a dozen languages, so lengths run
from a few tokens to the cap. The toolkits alternate within each precision. bf16 is the precision each toolkit
offers: sentence-transformers casts the model (``model.bfloat16()``), mlsimcse encodes with a bf16 copy of it
(``dtype="bfloat16"``, as ``precision="bf16"``).
On a CPU without native bf16 (no AVX-512-BF16/AMX) that path is emulated and several times slower, so bf16 runs on
the first ``--bf16-sentences`` only, and ``--quality-tasks`` (off by default; ``quick``, the whole quick suite,
took 34-41 minutes here, 29-31 of them in emulated bf16) scores tasks in bf16 against fp32, which must agree
within 0.3 points to count as keeping the numbers. On a GPU or a CPU with native bf16, raise both.

mlsimcse's ``encode`` sorts by token count and cuts batches at 1,024 padded tokens on CPU: batches that small keep
a layer's activations in cache, which on this machine is worth more than the larger matmuls of big batches.

Achieved FLOP/s counts only the work on real tokens (no padding) of the encoder's matmuls — per layer
24·L·H² for the projections and feed-forward plus 4·L²·H for attention — and is set against the peak this
script measures on a large square product in the same process and in the projections' layout (x @ W.T), so the
fraction is of this machine, now.

    python benchmarks/bench_encode_throughput.py [--sentences 10000] [--bf16-sentences 20] [--quality-tasks sts17:en-en]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NTREX_LANGUAGES = {"eng-US": "en", "deu": "de", "spa": "es", "fra": "fr", "ita": "it", "rus": "ru",
                   "zho_Hans": "zh", "pol": "pl", "tur": "tr", "vie": "vi"}
STSB_LANGUAGES = ["en", "de", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh"]
TATOEBA_LANGUAGES = ["ara", "cmn", "deu", "fra", "heb", "hin", "ita", "jpn", "kor", "nld", "por", "rus", "spa", "tur"]


def real_sentences(data_root: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences: about 40 % long news, 30 % STS-B, 30 % short Tatoeba, shuffled."""
    import csv

    news, sts, tatoeba = [], [], []
    for code in NTREX_LANGUAGES:
        news += (data_root / "ntrex128" / f"newstest2019-ref.{code}.txt").read_text(encoding="utf-8").splitlines()
    for lang in STSB_LANGUAGES:
        with open(data_root / "stsb_multi_mt" / f"stsb-{lang}-test.csv", encoding="utf-8", newline="") as handle:
            sts += [row[0] for row in csv.reader(handle)]
    for lang in TATOEBA_LANGUAGES:
        path = data_root / "tatoeba_laser" / f"tatoeba.{lang}-eng.{lang}"
        if path.exists():
            tatoeba += path.read_text(encoding="utf-8").splitlines()
    rng = random.Random(seed)
    chosen: list[str] = []
    for pool, share in ((news, 0.4), (sts, 0.3), (tatoeba, 0.3)):
        pool = [text for text in dict.fromkeys(pool) if text.strip()]
        chosen += rng.sample(pool, min(len(pool), round(count * share)))
    rng.shuffle(chosen)
    return chosen[:count]


def encoder_flops(lengths: list[int], hidden: int, layers: int) -> float:
    return float(sum(layers * (24 * n * hidden ** 2 + 4 * n * n * hidden) for n in lengths))


def main() -> None:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from machine import matmul_peak
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.paths import data_root, default_base_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_base_model(), help="encoder (default: shared MiniLM)")
    parser.add_argument("--sentences", type=int, default=10_000, help="how many sentences (default: %(default)s)")
    parser.add_argument("--bf16-sentences", type=int, default=20,
                        help="sentences for the bf16 timing, 0 skips bf16 (default: %(default)s)")
    parser.add_argument("--quality-tasks", default="",
                        help="tasks scored in fp32 and bf16 to check bf16 keeps the numbers, e.g. "
                             "sts17:en-en,sts17:es-es (minutes per hundred sentences without native bf16); "
                             "default: none")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="batch size for both (default: each toolkit's own default)")
    args = parser.parse_args()
    started = time.perf_counter()

    sentences = real_sentences(data_root(), args.sentences)
    ours = SentenceEncoder.from_pretrained(args.model)
    theirs = SentenceTransformer(args.model, device="cpu")
    theirs.max_seq_length = ours.settings.max_length
    config = ours.backbone.config
    lengths = [len(ids) for ids in ours.tokenizer(sentences, truncation=True, max_length=ours.settings.max_length)
               ["input_ids"]]
    flops = encoder_flops(lengths, config.hidden_size, config.num_hidden_layers)
    print(f"{len(sentences):,} sentences, tokens per sentence mean {np.mean(lengths):.1f}, median "
          f"{np.median(lengths):.0f}, max {max(lengths)}; {flops / 1e12:.2f} TFLOP of real-token encoder work; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    ours_kwargs = {"batch_size": args.batch_size} if args.batch_size else {}
    theirs_kwargs = {"batch_size": args.batch_size} if args.batch_size else {}

    rows, ratios, reference = [], [], None
    for precision in ["fp32", "bf16"] if args.bf16_sentences else ["fp32"]:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
        peak = matmul_peak(dtype)
        if precision == "bf16":
            sentences, reference = sentences[:args.bf16_sentences], reference[:args.bf16_sentences]
            lengths = lengths[:args.bf16_sentences]
            flops = encoder_flops(lengths, config.hidden_size, config.num_hidden_layers)
        st_model = theirs if precision == "fp32" else theirs.to(dtype)
        timings = {}
        for name, run in (
            ("sentence-transformers", lambda: st_model.encode(sentences, show_progress_bar=False, **theirs_kwargs)),
            ("mlsimcse", lambda: ours.encode(sentences, dtype=dtype, show_progress_bar=False, **ours_kwargs)),
        ):
            began = time.perf_counter()
            vectors = np.asarray(run(), dtype=np.float32)
            seconds = time.perf_counter() - began
            timings[name] = seconds
            if reference is None:
                reference = vectors
            agreement = float(np.min(np.sum(_unit(vectors) * _unit(reference), axis=1)))
            rows.append((name, precision, seconds, len(sentences) / seconds, flops / seconds / peak, agreement))
            print(f"  {name:<22} {precision}: {seconds:6.1f} s, {len(sentences) / seconds:7.1f} sentences/s, "
                  f"{flops / seconds / 1e9:6.1f} GFLOP/s = {flops / seconds / peak:5.1%} of the {peak / 1e9:.0f} "
                  f"GFLOP/s {precision} matmul peak; min cosine to ST fp32 {agreement:.5f}", flush=True)
        ratios.append(f"{precision} ×{timings['sentence-transformers'] / timings['mlsimcse']:.2f}")

    print("\n| toolkit | precision | seconds | sentences / s | of matmul peak | min cos vs ST fp32 |\n"
          "|---|---|---:|---:|---:|---:|")
    for name, precision, seconds, rate, fraction, agreement in rows:
        print(f"| {name} | {precision} | {seconds:.1f} | {rate:.1f} | {fraction:.1%} | {agreement:.5f} |")
    quality_line = ""
    if args.quality_tasks:
        quality_line = bf16_quality(ours, args.quality_tasks.split(","))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    print(f"encode_throughput: mlsimcse vs sentence-transformers sentences/s: {', '.join(ratios)}{quality_line}")


def bf16_quality(encoder, requested: list[str]) -> str:
    """Score ``requested`` tasks with fp32 and with bf16 encoding; print both, with the named averages they complete,
    and return the largest difference for the final line."""
    from mlsimcse.evaluation import EmbeddingCache, load_tasks, resolve_tasks, score_loaded
    from mlsimcse.evaluation.aggregates import aggregate_results

    loaded = load_tasks(resolve_tasks(requested if len(requested) > 1 else requested[0]), show_progress_bar=False)
    scores = {}
    for precision, dtype in (("fp32", "float32"), ("bf16", "bfloat16")):
        began = time.perf_counter()
        cache = EmbeddingCache(encoder, batch_size=64, show_progress_bar=True, encode_kwargs={"dtype": dtype})
        results = score_loaded(loaded, cache, show_progress_bar=False)
        scores[precision] = {result.task: result.main_score for result in [*results, *aggregate_results(results)]}
        print(f"  quality {precision}: {time.perf_counter() - began:.0f} s", flush=True)
    print("\n| task | fp32 | bf16 | difference |\n|---|---:|---:|---:|")
    for task, value in scores["fp32"].items():
        print(f"| {task} | {value:.2f} | {scores['bf16'][task]:.2f} | {scores['bf16'][task] - value:+.2f} |")
    worst = max(abs(scores["bf16"][task] - value) for task, value in scores["fp32"].items())
    return f"; bf16 vs fp32 on {','.join(requested)}: max |difference| {worst:.2f} points"


def _unit(matrix):
    import numpy as np

    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
