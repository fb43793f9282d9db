"""``mlsimcse eval`` (models × tasks, table and JSON) and ``mlsimcse make-bucc`` (a mining benchmark from a
parallel corpus)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mlsimcse.choices import POOLINGS
from mlsimcse.cli_types import add_command, add_precision_option, positive_int
from mlsimcse.errors import InputError
from mlsimcse.evaluation import task_names

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_eval(subparsers)
    _register_make_bucc(subparsers)


def _register_eval(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "eval", run_eval,
                         "evaluate sentence encoders on STS, Tatoeba retrieval and BUCC mining",
                         epilog=task_names.__doc__)
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="a saved mlsimcse folder, a sentence-transformers folder, or a Hugging Face Hub model name",
    )
    selection = parser.add_mutually_exclusive_group(required=True)
    selection.add_argument(
        "--tasks", nargs="+", metavar="TASK", help="task, group or suite names (see below), space-separated"
    )
    selection.add_argument(
        "--suite",
        choices=sorted(task_names.SUITES),
        help="quick: STS-B test in 11 languages, cross-lingual STS-B en->10, STS17, Tatoeba XNLI-14; "
        "multilingual: the same with all 112 Tatoeba languages; english-senteval: SimCSE's 7 STS tasks and "
        "geometry; full: all of these; heldout: NTREX-128 news retrieval in the 14 XNLI languages and UN v1.0 "
        "testset mining (ar es fr ru zh), domains no training recipe uses",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("eval_results.json"), help="JSON results file (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="sentences per encoder batch (default: %(default)s)"
    )
    parser.add_argument(
        "--max-length", type=positive_int, default=None,
        help="truncate sentences to this many tokens (default: the model's)",
    )
    add_precision_option(parser)
    parser.add_argument(
        "--pooling", choices=POOLINGS, default=None, help="override the model's pooling (default: as saved)"
    )
    parser.add_argument("--device", default=None, help="torch device to encode on, e.g. cuda (default: cpu)")
    prompting = parser.add_mutually_exclusive_group()
    prompting.add_argument(
        "--prompt", default=None, metavar="TEXT",
        help="text put before every sentence, e.g. 'query: ' for e5 models; '' for none (default: the model's "
        "default prompt, if its config_sentence_transformers.json names one)",
    )
    prompting.add_argument(
        "--prompt-name", default=None, metavar="NAME",
        help="the model's prompt of this name (config_sentence_transformers.json), e.g. query",
    )


def _register_make_bucc(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "make-bucc", run_make_bucc,
                         "build a BUCC-format mining benchmark from a line-aligned parallel corpus")
    parser.add_argument(
        "--src", nargs="+", type=Path, required=True, help="source-language file(s), one sentence a line"
    )
    parser.add_argument(
        "--tgt", nargs="+", type=Path, required=True, help="target-language file(s), line-aligned with --src"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder, named SRC-TGT after its languages (e.g. bench/fr-en)"
    )
    parser.add_argument(
        "--split",
        dest="splits",
        nargs="+",
        required=True,
        type=_split_size,
        metavar="NAME=PAIRS:DISTRACTORS",
        help="splits to build, e.g. sample=300:1500 training=1000:5000 (distractors are halved across the sides)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the row draw and shuffles (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")


def _split_size(text: str):
    """``NAME=PAIRS:DISTRACTORS`` for argparse, whose usage message then explains a bad value."""
    from mlsimcse.evaluation.bucc_builder import parse_split_size

    try:
        return parse_split_size(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate one or more sentence encoders, each benchmark computed as its reference protocol does (the
    protocol is named in the output). Data is read from the data root (MLSIMCSE_DATA_ROOT, default
    ../shared/data), or from the Hugging Face Hub where a file is absent. Every distinct sentence is encoded once
    per model, however many tasks use it. Prints a tasks x models table of main scores and writes all metrics as
    JSON."""
    import torch

    from mlsimcse.devices import resolve_device
    from mlsimcse.evaluation import registry
    from mlsimcse.evaluation.report import format_table, results_document
    from mlsimcse.evaluation.runner import evaluate_model, load_tasks
    from mlsimcse.io_utils import check_output_path, write_json
    from mlsimcse.precision import resolve_precision

    check_output_path(args.output, inputs=args.models)
    if args.device:
        resolve_device(args.device)
    requested = [args.suite] if args.suite else args.tasks
    precision = resolve_precision(args.precision, torch.float32, resolve_device(args.device or "cpu"))
    loaded = load_tasks(registry.resolve_tasks(requested), show_progress_bar=True)
    check_output_path(args.output, inputs=[*args.models, *_data_files(loaded)])
    runs = [
        evaluate_model(model, loaded, pooling=args.pooling, max_length=args.max_length, batch_size=args.batch_size,
                       encode_kwargs={"device": args.device, "precision": precision},
                       prompt=args.prompt, prompt_name=args.prompt_name, precision=precision,
                       show_progress_bar=True)
        for model in args.models
    ]
    print(format_table(runs))
    for run in runs:
        stats = run.cache_stats
        logger.info(
            f"{run.model}: {run.seconds:.1f} s; {stats['sentences_encoded']} sentences encoded for "
            f"{stats['sentences_referenced']} referenced; prompt {run.results[0].prompt!r}; precision {run.precision}"
        )
    write_json(args.output, results_document(runs, requested))
    print(f"results written to {args.output}")
    return 0


def _data_files(loaded) -> list[Path]:
    """The files the loaded tasks read, so --output cannot replace one; their origins list them as
    ``display_name`` does: relative to the data root when under it, else absolute."""
    from mlsimcse.paths import data_root

    names = {name for item in loaded for name, _ in item.data.origin.files}
    return [Path(name) if Path(name).is_absolute() else data_root() / name for name in sorted(names)]


def run_make_bucc(args: argparse.Namespace) -> int:
    """Hide gold translation pairs among distractor sentences of the same corpus and write them in BUCC 2018
    format (OUT/SRC-TGT.SPLIT.{SRC,TGT,gold}), ready for `mlsimcse eval --tasks bucc:OUT`. Splits draw disjoint
    rows; rows repeating an earlier text are skipped so gold pairs are unambiguous."""
    from mlsimcse.evaluation.bucc_builder import build_bucc_benchmark

    manifest = build_bucc_benchmark(args.src, args.tgt, args.out, args.splits, seed=args.seed, overwrite=args.overwrite)
    for split in manifest["splits"]:
        print(f"{args.out}: split {split['name']}: {split['gold_pairs']} gold pairs, "
              f"{split['distractors']} distractors")
    print(f"usable rows {manifest['usable_rows']}, skipped {manifest['rows_skipped']}")
    return 0
