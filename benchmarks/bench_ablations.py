"""The seed's two findings, reproduced on a multilingual encoder: dropout is the augmentation, and English NLI
transfers across languages.

SimCSE (Gao et al. 2021, table 2) trains unsupervised SimCSE with dropout p in {0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.5}.
At p = 0 the two views of a sentence are the same vector, and STS falls apart. p = 0.1 is best. mSimCSE (Wang et
al. 2022) finds that supervised SimCSE on English NLI alone already aligns languages. This script runs both
studies with mlsimcse's own trainer and quick suite. Every run has the same data order, steps, batch, learning
rate and seed. Only the studied setting changes:

- ``dropout``: unsupervised SimCSE on the quickstart's dropout sentences (STS-B train in ten languages), with
  ``model.dropout`` p in {0, 0.05, 0.1, 0.2}, on multilingual-e5-small and on the English all-MiniLM-L6-v2;
- ``nli``: supervised SimCSE (entailment the positive, contradiction the hard negative) on English SNLI
  triplets only, against cross-lingual XNLI triplets in the fifteen XNLI languages, on multilingual-e5-small.

Each model, the untrained base included, is scored on the quick suite plus ``geometry:en``: alignment and
uniformity on STS-B test, as SimCSE's figure 2 computes them. The scores come at ``--precision`` (default auto:
bf16 where the CPU has it natively, which keeps every quick-suite task within 0.26 of fp32). Each model of the
NLI study also encodes the first ``--heatmap-sentences`` NTREX-128 sentences in ten scripts. Their cosine
matrix, sentence by sentence and language by language, goes into the JSON for the notebook's heatmap
(``notebooks/multilingual_ablations.ipynb``). NTREX is held out from every recipe, and is only encoded here.

    python benchmarks/bench_ablations.py [--studies dropout nli] [--models e5 minilm] [--steps 100]
        [--output benchmarks/results/ablations.json]

It prints one table per study and model and writes every figure to ``--output``. Measured figures are in
benchmarks/README.md ("Ablations").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODELS = {"e5": "shared:multilingual-e5-small", "minilm": "shared:all-MiniLM-L6-v2"}
DROPOUTS = (0.0, 0.05, 0.1, 0.2)
NLI = {"english-snli": "sup-snli", "crosslingual-xnli": "quickstart-multilingual-nli-triplets"}
"""The supervised study's two settings: data recipe (shipped short names) per setting."""
DROPOUT_SENTENCES = "quickstart-dropout-sentences"
TASKS = ["quick", "geometry:en"]
HEATMAP_LANGUAGES = {  # NTREX-128 file code -> (ISO 639-1, script)
    "eng-US": ("en", "Latin"), "rus": ("ru", "Cyrillic"), "arb": ("ar", "Arabic"), "hin": ("hi", "Devanagari"),
    "tha": ("th", "Thai"), "ell": ("el", "Greek"), "zho_Hans": ("zh", "Han"), "kor": ("ko", "Hangul"),
    "jpn": ("ja", "Kana"), "heb": ("he", "Hebrew"),
}
REPORTED = ["stsb-multi-avg-10", "xstsb-avg-9", "sts17-avg-6", "tatoeba-xnli14-avg"]
HEADINGS = ["STS-B multi", "xSTS en→xx", "STS17", "Tatoeba-14"]


def base_overrides(model: str, steps: int, out: Path, learning_rate: float) -> list[str]:
    """Settings every run of a study shares (the quickstart's batch, length and frozen token embeddings)."""
    return [f"output_dir={out}", f"model.name_or_path={model}", "model.pooling=mean", "model.max_length=32",
            "model.freeze_embeddings=true", "batch_size=64", f"max_steps={steps}", f"learning_rate={learning_rate}",
            "warmup_steps=10", "eval_task=null", f"save_every={steps}", "log_every=10", "loss.temperature=0.05",
            "forward_chunk_size=64", "forward_chunk_tokens=1024", "data.language_alpha=0.5"]


def settings(study: str) -> dict[str, list[str]]:
    """Setting name -> the overrides that make it."""
    if study == "dropout":
        return {f"p={p:g}": [f"model.dropout={p}", f"data.sources=[{{path: {DROPOUT_SENTENCES}}}]"]
                for p in DROPOUTS}
    return {name: [f"data.sources=[{{path: {recipe}}}]"] for name, recipe in NLI.items()}


def heatmap_sentences(count: int) -> tuple[list[str], list[str]]:
    """The first ``count`` NTREX-128 lines in each heatmap language, ordered sentence by sentence."""
    from mlsimcse.paths import data_root
    from mlsimcse.text_lines import read_sentences

    columns = {code: read_sentences(data_root() / "ntrex128" / f"newstest2019-ref.{code}.txt")[:count]
               for code in HEATMAP_LANGUAGES}
    labels = [f"{HEATMAP_LANGUAGES[code][0]}{i}" for i in range(count) for code in HEATMAP_LANGUAGES]
    texts = [columns[code][i] for i in range(count) for code in HEATMAP_LANGUAGES]
    return labels, texts


def score(model_path: str, loaded, heatmap_texts: list[str] | None, precision: str) -> dict:
    """Quick suite + geometry for one saved model, and the heatmap sentences' cosine matrix if given texts."""
    import numpy as np

    from mlsimcse.encoder import SentenceEncoder
    from mlsimcse.evaluation.runner import evaluate_model

    run = evaluate_model(model_path, loaded, batch_size=128, encode_kwargs={"precision": precision},
                         precision=precision, show_progress_bar=False)
    results = {r.task: (r.scores if r.task.startswith("geometry") else r.main_score) for r in run.results}
    scored = {"results": results, "seconds": round(run.seconds, 1)}
    if heatmap_texts:
        vectors = SentenceEncoder.from_pretrained(model_path).encode(heatmap_texts, normalize=True,
                                                                     precision=precision)
        scored["heatmap"] = np.round(vectors @ vectors.T, 3).tolist()
    return scored


def train_setting(model: str, run_name: str, overrides: list[str], steps: int, learning_rate: float,
                  scratch: Path) -> tuple[Path, dict]:
    """Train one setting; returns its model folder and what the run logged (loss curve, time)."""
    from mlsimcse.config import load_config
    from mlsimcse.training import train

    out = scratch / run_name.replace("=", "").replace("/", "-")
    config = load_config(None, base_overrides(model, steps, out, learning_rate) + overrides)
    started = time.perf_counter()
    model_dir = train(config)
    steps_logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return model_dir, {"train_seconds": round(time.perf_counter() - started, 1),
                       "loss": [round(s["loss"], 4) for s in steps_logged], "overrides": overrides}


def earlier_studies(output: Path, document: dict) -> dict:
    """The studies an earlier run wrote to ``output``, kept so that running one study adds to the file; a file
    made with other settings is refused rather than mixed with these."""
    if not output.exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        return {}
    earlier = json.loads(output.read_text(encoding="utf-8"))
    differing = [key for key in ("steps", "learning_rate", "precision", "tasks", "heatmap_labels")
                 if earlier.get(key) != document[key]]
    if differing:
        raise SystemExit(f"{output}: made with other {', '.join(differing)}; choose another --output")
    return earlier["studies"]


def table(rows: dict[str, dict]) -> str:
    lines = ["| setting | " + " | ".join(HEADINGS) + " | alignment | uniformity |",
             "|---|" + "---:|" * (len(HEADINGS) + 2)]
    for name, row in rows.items():
        results = row["results"]
        geometry = results["geometry:en"]
        lines.append(f"| {name} | " + " | ".join(f"{results[t]:.2f}" for t in REPORTED)
                     + f" | {geometry['alignment']:.3f} | {geometry['uniformity']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", nargs="+", choices=("dropout", "nli"), default=["dropout", "nli"])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=["e5", "minilm"],
                        help="models of the dropout study (the nli study runs on e5 only)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=3e-5, help="SimCSE's for base-size encoders")
    parser.add_argument("--precision", default="auto", help="encoding precision of the evaluations")
    parser.add_argument("--heatmap-sentences", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ablations.json"))
    args = parser.parse_args(argv)

    import torch

    from mlsimcse.cli_logging import command_logging
    from mlsimcse.evaluation import load_tasks, resolve_tasks
    from mlsimcse.io_utils import write_json
    from mlsimcse.paths import resolve_model_name
    from mlsimcse.precision import resolve_precision

    precision = resolve_precision(args.precision, torch.float32, torch.device("cpu"))
    loaded = load_tasks(resolve_tasks(TASKS))
    labels, texts = heatmap_sentences(args.heatmap_sentences)
    document = {"steps": args.steps, "learning_rate": args.learning_rate, "precision": precision,
                "tasks": TASKS, "heatmap_labels": labels,
                "heatmap_scripts": {code: script for code, (_, script) in HEATMAP_LANGUAGES.items()}, "studies": {}}
    document["studies"] = earlier_studies(args.output, document)
    plan = [(study, model) for study in args.studies
            for model in (args.models if study == "dropout" else ["e5"])]
    started = time.perf_counter()
    with command_logging("normal"), tempfile.TemporaryDirectory(prefix="mlsimcse-ablations-") as scratch:
        for study, model_key in plan:
            model = resolve_model_name(MODELS[model_key])
            heatmap = texts if study == "nli" else None  # the notebook's heatmap: the NLI study's models
            rows = {"untrained": score(model, loaded, heatmap, precision)}
            for name, overrides in settings(study).items():
                print(f"[{time.perf_counter() - started:6.0f} s] {study} {model_key} {name}", file=sys.stderr)
                model_dir, logged = train_setting(model, f"{study}/{model_key}/{name}", overrides, args.steps,
                                                  args.learning_rate, Path(scratch))
                rows[name] = {**score(str(model_dir), loaded, heatmap, precision), **logged}
            document["studies"][f"{study}/{model_key}"] = rows
            write_json(args.output, document)  # after every study, so an interruption loses one study at most
            print(f"\n## {study}, {model_key} ({args.steps} steps, batch 64, lr {args.learning_rate:g}, "
                  f"scored in {precision})\n\n{table(rows)}", flush=True)
    print(f"\nablations: {len(plan)} studies in {(time.perf_counter() - started) / 60:.1f} min; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
