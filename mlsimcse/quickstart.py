"""``mlsimcse quickstart``: SimCSE on a real multilingual encoder, trained and measured before and after.

It stands on every other part of the toolkit: the shipped data recipes on the offline data, the mixture sampler,
the trainer with its distillation objective and frozen teacher, and the quick evaluation suite. One command, one
output folder with the trained model (and its model card), the before/after results (JSON and a table) and the
training curve. Two recipes ship (``--recipe``): ``multilingual`` (the default: multilingual-e5-small, every
objective in every language) and ``english-to-multilingual`` (the English all-MiniLM-L6-v2 made cross-lingual).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from mlsimcse.choices import PRECISIONS
from mlsimcse.cli_types import add_command
from mlsimcse.errors import InputError

RECIPES = {
    "multilingual": "quickstart",
    "english-to-multilingual": "quickstart-english-to-multilingual",
}
"""``--recipe`` -> the shipped config it runs (``mlsimcse/configs/NAME.yaml``)."""

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "quickstart", run,
                         "train a cross-lingual encoder on this machine and show before/after numbers")
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="multilingual",
                        help="which shipped quickstart config to run (default: %(default)s)")
    parser.add_argument("--output-dir", default=None,
                        help="new folder for the model, results and plot (default: the config's output_dir, "
                             "runs/quickstart or runs/quickstart-english)")
    parser.add_argument("--base-model", default=None,
                        help="model to start from (default: the config's, e.g. shared:multilingual-e5-small)")
    parser.add_argument("--config", default=None,
                        help="training config: a YAML file or a shipped config's short name, instead of --recipe's")
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument("--tasks", nargs="+", metavar="TASK",
                           help="task, group or suite names to evaluate, space-separated (as `mlsimcse eval --tasks`)")
    selection.add_argument("--suite", default=None,
                           help="evaluation suite, as `mlsimcse eval --suite` (default: quick); a comma-separated list "
                                "of tasks is still read as --tasks")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="precision of both evaluations' encoding (default: %(default)s, bf16 where the CPU has "
                             "it natively, else fp32: bf16 keeps every quick-suite task of both models within 0.3 "
                             "of fp32 at 2.5-4 times the speed; training stays in the config's mixed_precision)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="training config overrides, e.g. max_steps=50")


def run(args: argparse.Namespace) -> int:
    """Train a multilingual sentence encoder on a mix the sampler draws batch by batch, then evaluate base and
    trained model on the quick suite (multilingual STS-B, cross-lingual STS-B, STS17, Tatoeba-14). The default
    recipe fine-tunes multilingual-e5-small (the shared copy, else its Hub name) on translation pairs (STS-B train
    in nine languages, Tatoeba Challenge in thirteen) distilled from a frozen copy of the base model plus the
    pairs themselves, cross-lingual XNLI triplets (supervised SimCSE), STS-B train pairs with their gold scores
    within and across eleven languages (CoSENT), and dropout sentences in ten languages (unsupervised SimCSE),
    and saves the WiSE-FT blend of trained and base weights. --recipe
    english-to-multilingual makes the English all-MiniLM-L6-v2 cross-lingual instead. Evaluation sentences are
    removed from all training data. Runs offline on ../shared."""
    import torch

    from mlsimcse.config import load_config
    from mlsimcse.evaluation import load_tasks, resolve_tasks
    from mlsimcse.evaluation.report import ModelRun, format_table, results_document
    from mlsimcse.evaluation.runner import evaluate_model
    from mlsimcse.io_utils import refuse_existing_output, write_json
    from mlsimcse.model_card import write_model_card
    from mlsimcse.training import train
    from mlsimcse.training.curve import plot_training_curve

    from mlsimcse.paths import resolve_model_name
    from mlsimcse.precision import resolve_precision

    overrides = [*([f"output_dir={args.output_dir}"] if args.output_dir else []),
                 *([f"model.name_or_path={args.base_model}"] if args.base_model else []), *args.overrides]
    config = load_config(args.config or RECIPES[args.recipe], overrides)
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise InputError("is a file, not a folder; choose another --output-dir", path=out)
    refuse_existing_output(out, "output folder is not empty; choose another --output-dir")
    base = resolve_model_name(config.model.name_or_path)
    precision = resolve_precision(args.precision, torch.float32, torch.device("cpu"))
    requested = args.tasks or (args.suite or "quick").split(",")
    started = time.perf_counter()

    logger.info(f"[1/4] reading the evaluation data ({','.join(requested)})")
    loaded = load_tasks(resolve_tasks(requested), show_progress_bar=True)

    def evaluate(label: str, model_path: str) -> ModelRun:
        return evaluate_model(model_path, loaded, label=label, batch_size=128, show_progress_bar=False,
                              encode_kwargs={"precision": precision}, precision=precision)

    logger.info(f"[2/4] evaluating the base model {base} (encoding in {precision})")
    before = evaluate("base", base)
    logger.info(f"[3/4] training for {config.max_steps} steps into {out}")
    trained: list[ModelRun] = []

    def evaluate_trained(model_dir: Path) -> dict[str, float]:  # inside train(), so report_to's trackers get it
        logger.info("[4/4] evaluating the trained model")
        trained.append(evaluate("trained", str(model_dir)))
        return final_scores([before, trained[0]])

    model_dir = train(config, final_evaluation=evaluate_trained)
    after = trained[0]

    runs = [before, after]
    document = {**results_document(runs, requested), "base_model": base, "trained_model": str(model_dir),
                "total_seconds": round(time.perf_counter() - started, 1)}
    write_json(out / "results.json", document)
    table = format_table(runs)
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    write_model_card(model_dir, results=document)  # the card again, now with the before/after table
    plot_training_curve(out / "metrics.jsonl", out / "training_curve.png")
    print(table)
    print(f"\nmodel: {model_dir}\nresults: {out / 'results.json'}, {out / 'results.md'}\n"
          f"training curve: {out / 'training_curve.png'}\n"
          f"total time: {(time.perf_counter() - started) / 60:.1f} min")
    return 0


def final_scores(runs) -> dict[str, float]:
    """Each run's averages (every task's score when the suite has none), logged at the trackers' last step."""
    from mlsimcse.evaluation import AGGREGATES

    averages = {aggregate.name for aggregate in AGGREGATES}
    scores = {}
    for run in runs:
        chosen = [result for result in run.results if result.task in averages] or run.results
        scores.update({f"final/{run.model}/{result.task}": result.main_score for result in chosen})
    return scores
