"""Which prompt to evaluate an e5-style model with, chosen on dev data (never on the test sets it is scored on).

e5 models were trained with ``query: `` / ``passage: `` before every input, and published Tatoeba figures of
multilingual-e5-small differ by up to 5 points with and without the prefix. This script scores the base model
under each policy on two dev sets and prints one table:

* STS-B **dev** (stsb_multi_mt) in ``--stsb`` languages (Spearman x100);
* a **Tatoeba dev** slice: pairs of the Tatoeba Translation Challenge (English with each ``--tatoeba`` language),
  every pair with a side in any shipped evaluation set removed (LASER Tatoeba included, through the same
  decontamination the data recipes use) and every repeated sentence dropped so each query has one answer, then
  ``--pairs`` drawn per language with a fixed seed; scored as Tatoeba is (accuracy both ways, mean).
  The quickstart recipes train on these pairs, so the slice is dev data for a base model only.

A policy is a prompt put before every sentence of both sides: ``none`` ("") and ``query`` ("query: ") by
default (``--policies`` also takes ``passage``). The model is ``shared:multilingual-e5-small`` unless ``--model``.

    python benchmarks/bench_prompt_policy.py [--pairs 300] [--stsb en de es ru zh] [--tatoeba ara deu ...]

Measured on 2026-12-01 (shared 4-bit e5, ``--pairs 300 --stsb en de ru zh``, all 13 Tatoeba languages; one torch
thread on a 2-core machine at load 8-12; 19,332 sentences, 15 and 19 minutes per policy; Polish from a rerun after
the slice's line reading was fixed: its file holds a U+2028, on which ``str.splitlines`` had split):

| dev set | none | ``query: `` |
|---|---:|---:|
| STS-B dev en / de / ru / zh | 86.99 / 83.80 / 81.58 / 82.81 | 87.22 / 84.47 / 82.26 / 82.67 |
| STS-B dev avg (4) | 83.80 | **84.16** |
| Tatoeba dev avg (13) | **96.29** | 95.37 |

Without a prompt, Tatoeba dev is higher in 10 of the 13 languages (ara 94.00 against 91.50, jpn 95.33 against
92.83, pol 96.67 against 94.33; kor, rus and zho are the three where ``query: `` leads, by at most 0.67); with it, STS-B
dev gains 0.36 (three of four languages). The chosen policy is **none**: it wins on retrieval by more than it loses
on STS, and it is the model's own default (its folder names no ``default_prompt_name``), so training and
evaluation need no setting.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POLICIES = {"none": "", "query": "query: ", "passage": "passage: "}
CHALLENGE_DIRS = {"ara": "ara-eng", "deu": "deu-eng", "fra": "eng-fra", "ita": "eng-ita", "jpn": "eng-jpn",
                  "kor": "eng-kor", "nld": "eng-nld", "pol": "eng-pol", "por": "eng-por", "rus": "eng-rus",
                  "spa": "eng-spa", "tur": "eng-tur", "zho": "eng-zho"}


def tatoeba_dev(data: Path, language: str, pairs: int, seed: int, out: Path) -> tuple[str, int, int]:
    """Write a decontaminated, duplicate-free slice of one Challenge pair folder; returns (task, kept, removed)."""
    from mlsimcse.data.eval_sentences import load_eval_sentences
    from mlsimcse.data.normalize import normalize_text
    from mlsimcse.text_lines import read_lines

    eval_sentences = load_eval_sentences(data)
    stem = data / "tatoeba_challenge_test" / CHALLENGE_DIRS[language] / "tatoeba-test-v2021-08-07"
    english = read_lines(stem.with_suffix(".eng"))  # lines end at \n only (str.splitlines also splits at U+2028)
    foreign = read_lines(stem.with_suffix(f".{language}"))
    clean = [(xx.strip(), en.strip()) for xx, en in zip(foreign, english)
             if xx.strip() and en.strip() and xx not in eval_sentences and en not in eval_sentences]
    removed = len(english) - len(clean)
    seen: dict[str, int] = {}
    for xx, en in clean:
        for key in (normalize_text(xx), normalize_text(en)):
            seen[key] = seen.get(key, 0) + 1
    unique = [(xx, en) for xx, en in clean if seen[normalize_text(xx)] == 1 and seen[normalize_text(en)] == 1]
    random.Random(seed).shuffle(unique)
    chosen = unique[:pairs]
    src, tgt = out / f"dev.{language}", out / f"dev.{language}.eng"
    src.write_text("".join(xx + "\n" for xx, _ in chosen), encoding="utf-8")
    tgt.write_text("".join(en + "\n" for _, en in chosen), encoding="utf-8")
    return f"parallel:{src},{tgt}", len(chosen), removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shared:multilingual-e5-small")
    parser.add_argument("--policies", nargs="+", default=["none", "query"], choices=sorted(POLICIES))
    parser.add_argument("--stsb", nargs="*", default=["en", "de", "es", "ru", "zh"], help="STS-B dev languages")
    parser.add_argument("--tatoeba", nargs="*", default=sorted(CHALLENGE_DIRS), choices=sorted(CHALLENGE_DIRS))
    parser.add_argument("--pairs", type=int, default=300, help="Tatoeba dev pairs per language (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.evaluation.cache import EmbeddingCache
    from mlsimcse.evaluation.registry import resolve_tasks
    from mlsimcse.evaluation.runner import load_tasks, score_loaded
    from mlsimcse.paths import data_root

    print(f"model {args.model}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-prompt-") as scratch:
        tasks, labels = [f"stsb-dev:{lang}" for lang in args.stsb], {}
        for language in args.tatoeba:
            task, kept, removed = tatoeba_dev(data_root(), language, args.pairs, args.seed, Path(scratch))
            tasks.append(task)
            labels[task] = f"tatoeba-dev:{language}"
            print(f"tatoeba-dev:{language}: {kept} pairs ({removed} pairs with an evaluation-set side removed)")
        loaded = load_tasks(resolve_tasks(tasks), show_progress_bar=False)
        encoder = SentenceEncoder.from_pretrained(args.model)
        table: dict[str, dict[str, float]] = {}
        for policy in args.policies:
            started = time.perf_counter()
            cache = EmbeddingCache(encoder, batch_size=128, show_progress_bar=False, prompt=POLICIES[policy])
            for result in score_loaded(loaded, cache, show_progress_bar=False):
                table.setdefault(labels.get(result.task, result.task), {})[policy] = result.main_score
            print(f"policy {policy!r} (prompt {POLICIES[policy]!r}): {cache.stats()['sentences_encoded']} sentences "
                  f"in {time.perf_counter() - started:.0f} s", flush=True)

    groups = {"STS-B dev avg": [t for t in table if t.startswith("stsb-dev")],
              "Tatoeba dev avg": [t for t in table if t.startswith("tatoeba-dev")]}
    print("\n| task | " + " | ".join(args.policies) + " |\n|---|" + "---:|" * len(args.policies))
    for task, scores in [*table.items(), *((name, {p: sum(table[t][p] for t in members) / len(members)
                                                   for p in args.policies})
                                           for name, members in groups.items() if members)]:
        print(f"| {task} | " + " | ".join(f"{scores[p]:.2f}" for p in args.policies) + " |")


if __name__ == "__main__":
    main()
