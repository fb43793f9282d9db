"""Peak memory of training the shared MiniLM at a large global batch: GradCache against plain training.

Three runs of the real trainer, each in a fresh process so each peak RSS is its own: GradCache at the large
batch (embedding ``--mini-batch`` texts at a time), plain training at the large batch, and plain training at
the mini-batch size. GradCache should sit near the small plain run, since what grows with the batch is the
encoder's activations and GradCache keeps only one mini-batch's at a time, while it still scores every anchor
against all ``--batch - 1`` in-batch negatives. (A plain batch of 64 pairs embeds 128 texts in one forward,
GradCache's chunk 64 texts, so GradCache can even come in under it.) The data are Tatoeba English-German translation pairs from
the shared folder (the ``parallel`` objective, symmetric InfoNCE), truncated at SimCSE's 32 tokens.

    python benchmarks/bench_gradcache_memory.py [--batch 1024] [--mini-batch 64] [--steps 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads crawl on a shared CPU
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GIB = 2 ** 30
TATOEBA = Path("tatoeba_challenge_test") / "deu-eng" / "tatoeba-test-v2021-08-07"


def write_pairs(data_root: Path, target: Path) -> int:
    """Tatoeba eng-deu as ``parallel`` examples; translations of one English sentence share a group."""
    from mlsimcse.records import Example

    english = (data_root / f"{TATOEBA}.eng").read_text(encoding="utf-8").splitlines()
    german = (data_root / f"{TATOEBA}.deu").read_text(encoding="utf-8").splitlines()
    rows = [Example("parallel", (en, de), ("en", "de"), group=" ".join(en.casefold().split())).to_json()
            for en, de in zip(english, german) if en.strip() and de.strip()]
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def child(model: str, data: str, output: str, batch: int, mini_batch: int | None, steps: int) -> None:
    """Train ``steps`` steps and print one JSON line: peak RSS before and after, seconds per step."""
    from mlsimcse.config import load_config
    from mlsimcse.training import train

    config = load_config(None, [f"output_dir={output}", f"model.name_or_path={model}", "model.pooling=mean",
                                f"batch_size={batch}", f"mini_batch_size={mini_batch or 'null'}",
                                f"max_steps={steps}", f"save_every={steps}", "eval_task=null", "log_every=1",
                                "learning_rate=0.00002", f"data.sources=[{{path: {data}}}]"])
    rss_before_training = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    train(config)
    seconds = time.perf_counter() - started
    records = [json.loads(line) for line in (Path(output) / "metrics.jsonl").read_text().splitlines()]
    print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "rss_before_training": rss_before_training, "seconds_per_step": seconds / steps,
                      "first_loss": records[0]["loss"]}))


def run_child(args: argparse.Namespace, data: Path, scratch: Path, batch: int, mini_batch: int | None) -> dict:
    name = f"batch{batch}-mini{mini_batch}"
    command = [sys.executable, __file__, "--child", "--model", args.model, "--data", str(data),
               "--output", str(scratch / name), "--batch", str(batch), "--mini-batch", str(mini_batch or 0),
               "--steps", str(args.steps)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    from mlsimcse.paths import data_root, default_base_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=default_base_model(), help="encoder to train (default: shared MiniLM)")
    parser.add_argument("--batch", type=int, default=1024, help="global batch of the large runs (default 1024)")
    parser.add_argument("--mini-batch", type=int, default=64,
                        help="GradCache chunk, and the batch of the small plain run (default 64; "
                             "0 in a child run: plain training)")
    parser.add_argument("--steps", type=int, default=1,
                        help="training steps per run (default 1: the first step already allocates the "
                             "optimizer state and the largest activations)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.model, args.data, args.output, args.batch, args.mini_batch, args.steps)
        return

    with tempfile.TemporaryDirectory(prefix="bench-gradcache-") as scratch:
        scratch = Path(scratch)
        pairs = write_pairs(data_root(), scratch / "pairs.jsonl")
        print(f"model {args.model}; {pairs} Tatoeba eng-deu pairs; max 32 tokens; {args.steps} step(s) per run; "
              f"{os.cpu_count()} CPUs")
        runs = [("GradCache", args.batch, args.mini_batch), ("plain", args.batch, None),
                ("plain", args.mini_batch, None)]
        results = []
        print(f"{'run':<38}{'peak RSS GiB':>14}{'before training GiB':>21}{'s / step':>10}{'step-1 loss':>13}")
        for label, batch, mini_batch in runs:
            result = run_child(args, scratch / "pairs.jsonl", scratch, batch, mini_batch)
            results.append(result)
            name = f"{label} batch {batch}" + (f" (chunks of {mini_batch})" if mini_batch else "")
            print(f"{name:<38}{result['peak_rss'] / GIB:>14.2f}{result['rss_before_training'] / GIB:>21.2f}"
                  f"{result['seconds_per_step']:>10.1f}{result['first_loss']:>13.4f}", flush=True)
    cached, plain_large, plain_small = (r["peak_rss"] for r in results)
    print(f"peak RSS: GradCache at batch {args.batch} = {cached / plain_small:.2f}x plain batch {args.mini_batch}, "
          f"{cached / plain_large:.2f}x plain batch {args.batch}")


if __name__ == "__main__":
    main()
