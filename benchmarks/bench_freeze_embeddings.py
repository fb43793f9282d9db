"""What XLM-R's 250k-row embedding matrix costs a training step, and what ``model.freeze_embeddings`` saves.

In multilingual-e5-small the token-embedding matrix is 96M of the model's 118M weights. Trained, it carries a
dense gradient (0.38 GB) and two AdamW moments (0.77 GB) and is read and written in full by every optimizer step,
though one batch looks up a few thousand of its rows. Each setting runs the real trainer in a fresh process (so
its peak RSS is its own) on translation pairs (``parallel``, the quickstart's Tatoeba Challenge pairs), batch
``--batch``, ``--length`` tokens, settings alternating run by run so a slow patch of a shared machine hits all
alike. Seconds per step come from ``metrics.jsonl`` (``elapsed_s`` at every step) after ``--warmup`` steps;
checkpoint and model saving are switched off in the child, so peak RSS is training's own.

With ``--score`` each run's model is then scored on dev data (STS-B dev and the Tatoeba dev slice of
``bench_prompt_policy.py``, no prompt), as is the base model, to show what freezing costs in quality.

It also counts the distinct rows a batch touches and times one optimizer step over the matrix alone: fused AdamW
on its dense gradient against ``torch.optim.SparseAdam`` on a gradient of only those rows (the "update the rows
a batch uses" alternative).

    python benchmarks/bench_freeze_embeddings.py [--steps 6] [--warmup 2] [--rounds 1] [--lr 1e-4] [--score]

Measured on 2026-12-01 (shared 4-bit e5; ``--steps 20 --warmup 2 --score``, lr 1e-4; one torch thread, on a 2-core
machine shared with other work at load 8-11, where this process got 25 % of a core: the seconds are wall-clock
under contention, only their ratio means much; 35 minutes in all):

| word embeddings | s / step | peak RSS | STS-B dev en, de | Tatoeba dev (13) |
|---|---:|---:|---:|---:|
| (base model, untrained) | | | 85.40 | 94.46 |
| trained | 38.84 | 5.06 GiB | 78.13 | 95.54 |
| frozen | 15.53 | 4.13 GiB | 78.13 | 95.62 |

A second run, ``--steps 8 --warmup 2 --rounds 2`` on torch's two threads at load 4-6, interleaved: 21.20 against
17.13 s/step (trained 19.62 and 22.78, frozen 15.24 and 19.02) and 4.90 against 4.13 GiB peak RSS. An earlier 3-step
calibration run (one thread) gave 38.69 against 30.40 s/step and 4.78 against 4.13 GiB. The losses of the two
runs agree to three decimals at every step: in 20 steps the touched rows move by about lr per step, which changes
nothing measurable. A batch touches 727 distinct rows of 250,037 (mean of 10 batches); one optimizer step over the
matrix alone takes 302 ms with fused AdamW on the dense gradient against 23 ms with ``SparseAdam`` on those rows.
(This run's Tatoeba dev slice still had the Polish misalignment that ``bench_prompt_policy.py`` has since fixed; it
was the same 100 pairs for all three models.)
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

PAIRS_RECIPE = "quickstart-tatoeba-pairs"  # a shipped recipe, by its short name
MODEL = "shared:multilingual-e5-small"
GIB = 2 ** 30
SETTINGS = {"trained": "false", "frozen": "true"}


def child(args: argparse.Namespace) -> None:
    """One training run; prints its step times and peak RSS as JSON on the last line."""
    from mlsimcse.config import load_config
    from mlsimcse.training import loop

    loop._save = lambda *a, **k: None  # no checkpoints: their write would dominate RSS and time here
    loop._save_model = lambda encoder, out: encoder.save_pretrained(out / loop.MODEL_DIR) if args.keep else None
    overrides = [f"output_dir={args.output}", f"model.name_or_path={MODEL}", "model.pooling=mean",
                 f"model.max_length={args.length}", f"model.freeze_embeddings={SETTINGS[args.child]}",
                 f"batch_size={args.batch}", f"max_steps={args.steps}", f"learning_rate={args.lr:f}", "warmup_steps=0",
                 "eval_task=null", "log_every=1", "save_every=100000", "seed=1",
                 f"data.sources=[{{path: {PAIRS_RECIPE}, objective: parallel}}]"]
    loop.train(load_config(None, overrides))
    records = [json.loads(line) for line in (Path(args.output) / "metrics.jsonl").read_text().splitlines()]
    elapsed = [0.0] + [record["elapsed_s"] for record in records]
    steps = [after - before for before, after in zip(elapsed, elapsed[1:])]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"step_seconds": steps, "peak_rss": peak, "losses": [r["loss"] for r in records]}))


def run_child(setting: str, args: argparse.Namespace, output: Path) -> dict:
    command = [sys.executable, __file__, "--child", setting, "--steps", str(args.steps), "--output", str(output),
               "--batch", str(args.batch), "--length", str(args.length), "--lr", str(args.lr)]
    command += ["--keep"] if args.score else []
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{setting} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows_touched_and_optimizer_step(args: argparse.Namespace) -> None:
    """Distinct rows per batch, and one optimizer step over the matrix: dense fused AdamW vs SparseAdam."""
    import torch

    from mlsimcse.data import MixtureBatchSampler, MixtureConfig
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.training.objectives import text_columns

    encoder = SentenceEncoder.from_pretrained(MODEL, "mean")
    sampler = MixtureBatchSampler(MixtureConfig.from_dict({"sources": [{"path": str(PAIRS_RECIPE)}]}),
                                  batch_size=args.batch, seed=1)
    touched = []
    for _ in range(10):
        batch = sampler.next_batch()
        texts = [text for column in text_columns("parallel", batch) for text in column]
        touched.append(encoder.tokenize(texts, args.length)["input_ids"].unique())
    matrix = encoder.backbone.get_input_embeddings().weight
    print(f"rows touched per batch of {args.batch} pairs at {args.length} tokens: "
          f"{statistics.mean(len(t) for t in touched):.0f} of {matrix.shape[0]:,} (mean of 10 batches)")

    dense = torch.nn.Parameter(matrix.detach().clone())
    adamw = torch.optim.AdamW([dense], lr=3e-5, fused=True)
    sparse = torch.nn.Parameter(matrix.detach().clone())
    sparse_adam = torch.optim.SparseAdam([sparse], lr=3e-5)
    timings: dict[str, list[float]] = {"fused AdamW, dense gradient": [], "SparseAdam, touched rows": []}
    for rows in touched:
        values = torch.randn(len(rows), matrix.shape[1]) * 1e-3
        dense.grad = torch.zeros_like(dense).index_add_(0, rows, values)
        started = time.perf_counter()
        adamw.step()
        timings["fused AdamW, dense gradient"].append(time.perf_counter() - started)
        sparse.grad = torch.sparse_coo_tensor(rows[None], values, dense.shape)
        started = time.perf_counter()
        sparse_adam.step()
        timings["SparseAdam, touched rows"].append(time.perf_counter() - started)
    for name, seconds in timings.items():
        print(f"one optimizer step over the matrix, {name}: {statistics.median(seconds[1:]) * 1000:.0f} ms (median)")


def score_on_dev(model: str, scratch: Path) -> tuple[float, float]:
    """STS-B dev (en, de) and Tatoeba dev (13 languages, 100 pairs each) averages, no prompt."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_prompt_policy import CHALLENGE_DIRS, tatoeba_dev

    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.evaluation import evaluate_tasks
    from mlsimcse.paths import data_root

    scratch.mkdir(parents=True, exist_ok=True)
    tatoeba = [tatoeba_dev(data_root(), language, 100, 0, scratch)[0] for language in sorted(CHALLENGE_DIRS)]
    stsb = ["stsb-dev:en", "stsb-dev:de"]
    results = evaluate_tasks(SentenceEncoder.from_pretrained(model), stsb + tatoeba, batch_size=128,
                             show_progress_bar=False, prompt="")
    scores = {r.task: r.main_score for r in results}
    return statistics.mean(scores[t] for t in stsb), statistics.mean(scores[t] for t in tatoeba)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="steps per timing run (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="timing runs per setting (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: %(default)s)")
    parser.add_argument("--score", action="store_true", help="score each trained model and the base on dev data")
    parser.add_argument("--child", choices=sorted(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import torch

    print(f"model {MODEL}; batch {args.batch} pairs, {args.length} tokens; {args.steps} steps per run, "
          f"{args.warmup} untimed; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load {os.getloadavg()[0]:.1f}")
    rows_touched_and_optimizer_step(args)
    timed: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-freeze-") as scratch_name:
        scratch = Path(scratch_name)
        for round_index in range(args.rounds):
            for setting in SETTINGS:
                run = scratch / f"{setting}-{round_index}"
                record = run_child(setting, args, run)
                if args.score:
                    record["dev"] = score_on_dev(str(run / "model"), scratch / f"dev-{setting}-{round_index}")
                timed.setdefault(setting, []).append(record)
                print(f"  {setting}-{round_index}: {statistics.mean(record['step_seconds'][args.warmup:]):.2f} s/step, "
                      f"peak RSS {record['peak_rss'] / GIB:.2f} GiB, dev {record.get('dev')}, losses "
                      f"{[round(loss, 3) for loss in record['losses']]}; load {os.getloadavg()[0]:.1f}", flush=True)
        base = score_on_dev(MODEL, scratch / "dev-base") if args.score else None
    print("\n| word embeddings | s / step | peak RSS | STS-B dev en, de | Tatoeba dev (13) |\n|---|---:|---:|---:|---:|")
    if base:
        print(f"| (base model, untrained) | | | {base[0]:.2f} | {base[1]:.2f} |")
    for setting, records in timed.items():
        seconds = statistics.mean(s for record in records for s in record["step_seconds"][args.warmup:])
        dev = [f"{statistics.mean(r['dev'][i] for r in records):.2f}" if args.score else "-" for i in (0, 1)]
        print(f"| {setting} | {seconds:.2f} | {max(r['peak_rss'] for r in records) / GIB:.2f} GiB | "
              f"{dev[0]} | {dev[1]} |")


if __name__ == "__main__":
    main()
