"""``mlsimcse quickstart``: an English sentence encoder becomes a cross-lingual one, measured before and after.

It stands on every other part of the toolkit: the shipped data recipes on the offline data, the mixture sampler,
the trainer with its distillation objective and frozen teacher, and the quick evaluation suite. One command, one output folder with the
trained model, the before/after results (JSON and a table) and the training curve.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlsimcse.errors import InputError
from mlsimcse.paths import default_base_model

QUICKSTART_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="train a cross-lingual encoder on this machine and show before/after numbers",
        description="Fine-tune the shared all-MiniLM-L6-v2 (or --base-model) into a cross-lingual encoder on a mix "
                    "the sampler draws batch by batch (configs/quickstart.yaml): English sentences paired with "
                    "their translations (STS-B train in nine languages, Tatoeba Challenge in eleven), distilled "
                    "from a frozen copy of the base model plus the pairs themselves (contrastive, similarity and "
                    "translation terms); cross-lingual XNLI triplets (supervised SimCSE); and dropout sentences in "
                    "ten languages (unsupervised SimCSE); evaluation sentences are removed from all of them. Then "
                    "evaluate base and trained model on the quick suite (multilingual STS-B, cross-lingual STS-B, "
                    "STS17, Tatoeba-14). "
                    "Runs offline on ../shared.")
    parser.add_argument("--output-dir", default="runs/quickstart",
                        help="new folder for the model, results and plot (default: %(default)s)")
    parser.add_argument("--base-model", default=None,
                        help="model to start from (default: ../shared/models/all-MiniLM-L6-v2, else its Hub name)")
    parser.add_argument("--config", default=str(QUICKSTART_CONFIG), help="training config (default: %(default)s)")
    parser.add_argument("--suite", default="quick", help="evaluation suite or comma-separated tasks (default: quick)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="training config overrides, e.g. max_steps=50")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlsimcse.config import load_config
    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.evaluation import load_tasks, resolve_tasks, score_loaded
    from mlsimcse.evaluation.cache import EmbeddingCache
    from mlsimcse.evaluation.report import ModelRun, format_table, results_document
    from mlsimcse.io_utils import write_json
    from mlsimcse.training import train
    from mlsimcse.training.curve import plot_training_curve

    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder; choose another --output-dir", path=out)
    if out.exists() and any(out.iterdir()):
        raise InputError("output folder is not empty; choose another --output-dir", path=out)
    base = args.base_model or default_base_model()
    config = load_config(args.config, [f"output_dir={out}", f"model.name_or_path={base}", *args.overrides])
    requested = args.suite.split(",")
    started = time.perf_counter()

    print(f"[1/4] reading the evaluation data ({args.suite})")
    loaded = load_tasks(resolve_tasks(requested if len(requested) > 1 else requested[0]), show_progress_bar=True)

    def evaluate(label: str, model_path: str) -> ModelRun:
        encoder = SentenceEncoder.from_pretrained(model_path)
        cache = EmbeddingCache(encoder, batch_size=128, show_progress_bar=True)
        began = time.perf_counter()
        results = score_loaded(loaded, cache, show_progress_bar=False)
        return ModelRun(label, results, time.perf_counter() - began, cache.stats())

    print(f"[2/4] evaluating the base model {base}")
    before = evaluate("base", base)
    print(f"[3/4] training for {config.max_steps} steps into {out}")
    model_dir = train(config)
    print("[4/4] evaluating the trained model")
    after = evaluate("trained", str(model_dir))

    runs = [before, after]
    write_json(out / "results.json", {**results_document(runs, requested),
                                      "base_model": base, "trained_model": str(model_dir),
                                      "total_seconds": round(time.perf_counter() - started, 1)})
    table = format_table(runs)
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    plot_training_curve(out / "metrics.jsonl", out / "training_curve.png")
    print(table)
    print(f"\nmodel: {model_dir}\nresults: {out / 'results.json'}, {out / 'results.md'}\n"
          f"training curve: {out / 'training_curve.png'}\n"
          f"total time: {(time.perf_counter() - started) / 60:.1f} min")
    return 0
