"""Training throughput and peak memory: mlsimcse's trainer against sentence-transformers' on the same work.

Both train the shared all-MiniLM-L6-v2 on the same English↔xx STS-B translation pairs (the nine languages of the
quality comparison), 64 pairs per batch, at most 64 tokens per text, in-batch-negatives InfoNCE at scale 20
(sentence-transformers' ``MultipleNegativesRankingLoss`` at its defaults; mlsimcse's ``parallel`` objective,
one direction, temperature 0.05). Each run is a fresh process so its peak RSS is its own, and the two toolkits
alternate run by run (ST, mlsimcse, ST, mlsimcse, ...) so a slow patch of a shared machine hits both alike.
Steady-state seconds per step are timed from step boundaries after ``--warmup`` steps; start-up and saving are
not counted for either side.

What mlsimcse does differently per step: the batch's texts are sorted by token count and run through the
encoder in chunks cut to their own longest text, so a batch with one 64-token sentence no longer pads every short
one to 64; the vectors and gradients are the same (tests/test_encoder.py). Chunks hold at most 64 texts and 512
padded tokens (``forward_chunk_size``, ``forward_chunk_tokens``): short texts run in bigger matrix products than
long ones. At this script's 64 tokens a 512-token budget ran 5-7 % faster than 1,024 in one process (three
interleaved rounds); the quickstart trains at 32 tokens, where the two are even, and keeps 1,024. Its optimizer is
PyTorch's fused AdamW, on Linux the process keeps freed memory instead of having the kernel map and zero it again
every step (mlsimcse/training/allocator.py), and dropout masks are drawn sixteen bits at a time
(mlsimcse/training/cpu_dropout.py; the trainer's default on CPU).

bf16 (autocast for mlsimcse, the trainer's ``bf16=True`` for sentence-transformers) gets one step each, first step
included: on a CPU
without AVX-512-BF16 or AMX, bf16 matmuls are emulated (the script measures how much slower) and a step takes
minutes, so it is timed for the record, not as a candidate.

    python benchmarks/bench_train_throughput.py [--steps 8] [--warmup 2] [--rounds 2] [--bf16-steps 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

BATCH_PAIRS = 64
MAX_TOKENS = 64
PAIRS_RECIPE = "quickstart-pairs"  # a shipped recipe, by its short name
GIB = 2 ** 30


def write_pairs(target: Path) -> int:
    """The quickstart's English↔xx STS-B train pairs (its recipe: the nine peer languages), as JSONL examples."""
    from mlsimcse.data import load_recipe_examples

    examples, _ = load_recipe_examples(PAIRS_RECIPE)
    target.write_text("\n".join(example.to_json() for example in examples) + "\n", encoding="utf-8")
    return len(examples)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_mlsimcse(model: str, pairs: Path, output: Path, steps: int, precision: str, chunk: int,
                 chunk_tokens: int) -> list[float]:
    """Train with mlsimcse's loop; step times from the elapsed clock it logs every step."""
    from mlsimcse.config import load_config
    from mlsimcse.training import train

    config = load_config(None, [
        f"output_dir={output}", f"model.name_or_path={model}", "model.pooling=mean", f"model.max_length={MAX_TOKENS}",
        f"batch_size={BATCH_PAIRS}", f"max_steps={steps}", f"save_every={steps * 10}", "eval_task=null",
        "log_every=1", "learning_rate=0.00002", f"warmup_steps={max(1, steps // 10)}",
        "loss.symmetric_parallel=false", "loss.temperature=0.05", f"forward_chunk_size={chunk or 'null'}",
        f"forward_chunk_tokens={chunk_tokens or 'null'}",
        f"mixed_precision={'bf16' if precision == 'bf16' else 'no'}", f"data.sources=[{{path: {pairs}}}]"])
    train(config)
    elapsed = [json.loads(line)["elapsed_s"] for line in (output / "metrics.jsonl").read_text().splitlines()]
    return [later - earlier for earlier, later in zip([0.0, *elapsed], elapsed)]


def run_sentence_transformers(model: str, pairs: Path, output: Path, steps: int, precision: str) -> list[float]:
    """Train with sentence-transformers' own trainer and loss at their defaults; step times from a callback."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from sentence_transformers.training_args import SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    texts = [json.loads(line)["texts"] for line in pairs.read_text(encoding="utf-8").splitlines()]
    dataset = Dataset.from_dict({"anchor": [t[0] for t in texts], "positive": [t[1] for t in texts]})
    student = SentenceTransformer(model, device="cpu")
    student.max_seq_length = MAX_TOKENS
    boundaries: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if not boundaries:
                boundaries.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            boundaries.append(time.perf_counter())

    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(output), max_steps=steps, per_device_train_batch_size=BATCH_PAIRS, learning_rate=2e-5,
        warmup_ratio=0.1, bf16=precision == "bf16", use_cpu=True, save_strategy="no", report_to="none",
        logging_steps=steps, seed=42, dataloader_num_workers=0)
    trainer = SentenceTransformerTrainer(model=student, args=arguments, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(student), callbacks=[StepClock()])
    trainer.train()
    return [later - earlier for earlier, later in zip(boundaries, boundaries[1:])]


def child(args: argparse.Namespace) -> None:
    """One training run in this process; prints one JSON line with step times and peak RSS."""
    output = Path(args.output)
    rss_before = peak_rss()
    if args.toolkit == "mlsimcse":
        step_seconds = run_mlsimcse(args.model, Path(args.pairs), output, args.steps, args.precision, args.chunk,
                                    args.chunk_tokens)
    else:
        step_seconds = run_sentence_transformers(args.model, Path(args.pairs), output, args.steps, args.precision)
    print(json.dumps({"step_seconds": step_seconds, "peak_rss": peak_rss(), "rss_before": rss_before}))


def run_child(args: argparse.Namespace, toolkit: str, precision: str, pairs: Path, scratch: Path, label: str) -> dict:
    steps, warmup = (args.steps, args.warmup) if precision == "fp32" else (args.bf16_steps, 0)
    command = [sys.executable, __file__, "--child", toolkit, "--model", args.model, "--pairs", str(pairs),
               "--output", str(scratch / label), "--steps", str(steps + warmup), "--precision", precision,
               "--chunk", str(args.chunk), "--chunk-tokens", str(args.chunk_tokens)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{label} failed:\n{result.stderr[-3000:]}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["timed"] = record["step_seconds"][warmup:]
    return record


def main() -> None:
    from mlsimcse.paths import default_base_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_base_model(), help="encoder to train (default: shared MiniLM)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per run (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps per run (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per toolkit and precision (default: %(default)s)")
    parser.add_argument("--bf16-steps", type=int, default=1,
                        help="timed bf16 steps per toolkit, one round, no warm-up (a step takes minutes); 0 skips bf16 "
                             "(default: %(default)s)")
    parser.add_argument("--chunk", type=int, default=64,
                        help="mlsimcse forward_chunk_size; 0 turns it off (default: %(default)s)")
    parser.add_argument("--chunk-tokens", type=int, default=512,
                        help="mlsimcse forward_chunk_tokens; 0 turns it off (default: %(default)s)")
    parser.add_argument("--child", choices=["mlsimcse", "sentence-transformers"], help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.toolkit = args.child
        return child(args)

    import torch
    from machine import matmul_peak

    precisions = ["fp32", "bf16"] if args.bf16_steps > 0 else ["fp32"]
    runs = [("fp32", index) for index in range(args.rounds)] + [("bf16", 0)] * (args.bf16_steps > 0)
    started = time.perf_counter()
    print(f"model {args.model}; batch {BATCH_PAIRS} pairs, max {MAX_TOKENS} tokens, {args.steps} timed steps after "
          f"{args.warmup} warm-up per run, {args.rounds} rounds; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; mlsimcse chunks of {args.chunk or 'any'} texts, "
          f"{args.chunk_tokens or 'any'} tokens")
    for dtype in (torch.float32, torch.bfloat16):
        print(f"{dtype} matmul (1024 x 1024, x @ W.T): {matmul_peak(dtype, size=1024, repeats=3) / 1e9:.1f} GFLOP/s")
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as scratch_name:
        scratch = Path(scratch_name)
        pairs = scratch / "pairs.jsonl"
        print(f"{write_pairs(pairs):,} English↔xx pairs from the recipe {PAIRS_RECIPE}")
        for precision, round_index in runs:
            for toolkit in ("sentence-transformers", "mlsimcse"):
                label = f"{toolkit}-{precision}-{round_index}"
                record = run_child(args, toolkit, precision, pairs, scratch, label)
                results.setdefault((toolkit, precision), []).append(record)
                print(f"  {label:<30} {statistics.mean(record['timed']):6.2f} s/step, "
                      f"peak RSS {record['peak_rss'] / GIB:.2f} GiB", flush=True)

    print(f"\n| toolkit | precision | s / step | pairs / s | peak RSS |\n|---|---|---:|---:|---:|")
    summary = {}
    for (toolkit, precision), records in results.items():
        seconds = statistics.mean(s for record in records for s in record["timed"])
        rss = max(record["peak_rss"] for record in records)
        summary[(toolkit, precision)] = (BATCH_PAIRS / seconds, rss)
        print(f"| {toolkit} | {precision} | {seconds:.2f} | {BATCH_PAIRS / seconds:.1f} | {rss / GIB:.2f} GiB |")
    ratios = []
    for precision in precisions:
        ours, theirs = summary[("mlsimcse", precision)], summary[("sentence-transformers", precision)]
        ratios.append(f"{precision} ×{ours[0] / theirs[0]:.2f} pairs/s, ×{ours[1] / theirs[1]:.2f} peak RSS")
    best = max(summary[("mlsimcse", p)][0] for p in precisions)
    baseline = summary[("sentence-transformers", "fp32")][0] if "fp32" in precisions else None
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    headline = f"; best mlsimcse precision vs ST fp32 ×{best / baseline:.2f}" if baseline else ""
    print(f"train_throughput: mlsimcse vs sentence-transformers: {'; '.join(ratios)}{headline}")


if __name__ == "__main__":
    main()
