"""Model cards: the README.md with Hub metadata that every trained model folder and every export carries.

The trainer writes one into ``model/`` each time it saves the model, the quickstart writes it again once its
before/after table exists, and ``mlsimcse export`` writes it into the exported copy, so a model folder says
what it is before anyone publishes it. Everything comes from what the run left on disk: the resolved
``config.yaml`` (sources, weights, settings), the recipes it names (languages, data folders), the data
manifest's licence lines (:mod:`mlsimcse.licences`: the strictest wins, and the card says which source forced
it), the dev score the checkpoint was selected on (``metrics.jsonl``) and a results file when there is one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path
from mlsimcse.licences import FAMILIES, UNKNOWN, Licence, classify, manifest_licences, most_restrictive
from mlsimcse.paths import hub_model_name
from mlsimcse.st_layout import EncoderSettings
from mlsimcse.st_settings import read_settings

CARD = "README.md"

HUB_DATASETS = {
    "stsb_multi_mt": "PhilipMay/stsb_multi_mt",
    "xnli": "facebook/xnli",
    "snli_esnli": "stanfordnlp/snli",
    "tatoeba_challenge_test": "Helsinki-NLP/tatoeba_mt",
}
"""Shared data folders that are byte copies of a Hub dataset's files; ``datasets:`` may only name Hub ids."""


@dataclass
class SourceFacts:
    """One corpus a run trained on, as the card reports it."""

    label: str  # the data.sources entry it belongs to
    corpus: str  # the recipe source's name; the entry's label for a file or a datasets Dataset
    objective: str | None
    weight: float
    where: str
    languages: list[str]
    datasets: list[str]  # Hub ids
    licences: list[tuple[str, Licence]]  # (which data, its licence)


def write_model_card(model_dir: Path, *, results: dict | None = None, dev: dict | None = None) -> Path:
    """(Re)write ``model_dir/README.md`` for a run's model folder, atomically; returns the card's path.

    ``dev`` is the dev evaluation the model was selected on (a ``metrics.jsonl`` line with ``best``); by
    default the run's last such line. ``results`` is an ``mlsimcse eval``-style document (the quickstart's).
    """
    config, best = run_record(model_dir)
    text = model_card(model_dir, config, results, dev=dev if dev is not None else best)
    with atomic_path(model_dir / CARD) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return model_dir / CARD


def run_record(model_dir: Path) -> tuple[dict | None, dict | None]:
    """The resolved config and the best dev line of the run whose ``model/`` folder this is (its parent)."""
    from mlsimcse.training.run_folder import CONFIG, METRICS

    run_dir = Path(model_dir).parent
    return _read_yaml(run_dir / CONFIG), best_dev_line(run_dir / METRICS)


def best_dev_line(metrics: Path) -> dict | None:
    """The last ``metrics.jsonl`` line that saved a new best dev score (the model folder holds its weights)."""
    if not metrics.is_file():
        return None
    best = None
    for line in metrics.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut short by a kill
        if isinstance(record, dict) and record.get("best") and isinstance(record.get("eval_score"), (int, float)):
            best = record
    return best


def model_card(model_dir: Path, config: dict | None, results: dict | None, *,
               settings: EncoderSettings | None = None, trained_here: bool = True, dev: dict | None = None) -> str:
    """A model folder's README.md: Hub front matter, what the encoder is, its training, data, licence, scores."""
    if settings is None:
        settings, _ = read_settings(model_dir)
    model_dir = Path(model_dir).resolve()
    sources = training_sources(config) if trained_here else []
    forced_by, licence = most_restrictive(pair for source in sources for pair in source.licences)
    meta: dict[str, Any] = {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity",
                            "tags": ["sentence-transformers", "sentence-similarity", "mlsimcse", "simcse",
                                     "multilingual"]}
    base = hub_model_name(settings.base_model) if trained_here else None
    if trained_here:
        meta.update({"base_model": base} if base else {})
        meta.update(_listed("language", (lang for source in sources for lang in source.languages)))
        meta.update(_listed("datasets", (hub for source in sources for hub in source.datasets)))
        meta["license"] = licence.hub_id
    elif own := _card_licence(model_dir):
        meta["license"] = own
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip(), "---", ""]
    described = f"{settings.pooling} pooling, max length {settings.max_length}"
    if trained_here:
        lines += [f"# {model_dir.parent.name}", "",
                  f"A sentence encoder trained with mlsimcse from `{base or settings.base_model}` ({described}).", ""]
    else:
        lines += [f"# {model_dir.name}", "",
                  f"A sentence-transformers encoder ({described}), exported with mlsimcse; it was not trained "
                  "with mlsimcse, so this card has no training recipe.", ""]
    lines += ["```python", "from sentence_transformers import SentenceTransformer",
              "model = SentenceTransformer('PATH')", "vectors = model.encode(['Hello world', 'Hallo Welt'])", "```", ""]
    if trained_here:
        lines += _training_section(config, sources)
        lines += _data_section(sources)
        lines += _licence_section(forced_by, licence, bool(sources))
    lines += _results_section(results, dev)
    return "\n".join(lines) + "\n"


def _listed(key: str, values) -> dict[str, list[str]]:
    unique = list(dict.fromkeys(values))
    return {key: unique} if unique else {}


def training_sources(config: dict | None) -> list[SourceFacts]:
    """What each ``data.sources`` entry of a resolved config trained on: corpora, languages, licences."""
    if not config or not isinstance(config.get("data"), dict):
        return []
    manifest = manifest_licences()
    facts: list[SourceFacts] = []
    for entry in config["data"].get("sources") or []:
        facts += _entry_facts(entry if isinstance(entry, dict) else {"path": entry}, manifest)
    return facts


def _entry_facts(entry: dict, manifest: dict[str, str]) -> list[SourceFacts]:
    label = str(entry.get("name") or entry.get("path") or entry.get("dataset"))
    objective, weight = entry.get("objective"), float(entry.get("weight", 1.0))
    recipe = _recipe_sources(entry.get("path"))
    if recipe is None:  # a JSONL/Arrow file or a datasets Dataset: nothing on disk records languages or licence
        dataset = entry.get("dataset")
        hub = [dataset] if dataset and "/" in dataset and not Path(dataset).exists() else []
        return [SourceFacts(label, label, objective, weight, f"`{dataset or entry.get('path')}`", [], hub,
                            [(f"{label} (no licence recorded)", UNKNOWN)])]
    facts = []
    for source in recipe:
        if not source.get("local"):
            continue  # training reads recipes' local form only: a Hub-only source was skipped
        folders = sorted({folder for file_set in source["local"].get("sets", [])
                          if (folder := _top_folder(file_set)) is not None})
        licences = [(f"{label} ({source['name']}, {folder}/)", classify(manifest.get(folder))) for folder in folders]
        facts.append(SourceFacts(label, source["name"], objective or source.get("shape"), weight,
                                 ", ".join(f"`{folder}/`" for folder in folders), list(source.get("languages", [])),
                                 [HUB_DATASETS[f] for f in folders if f in HUB_DATASETS],
                                 licences or [(f"{label} ({source['name']}, no data folder)", UNKNOWN)]))
    return facts


def _recipe_sources(path: str | None) -> list[dict] | None:
    """The sources of the recipe a path names (a recipe YAML, or a built folder's manifest), else ``None``."""
    from mlsimcse.data.dataset_files import MANIFEST
    from mlsimcse.data.recipe import load_recipe

    if path is None:
        return None
    path = Path(path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            return [asdict(source) for source in load_recipe(path).sources]
        except InputError:
            return None  # changed since the run read it: the card cannot tell what was trained on
    manifest = path / MANIFEST if path.is_dir() else path.parent / MANIFEST
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["recipe"]["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _top_folder(file_set: str | dict) -> str | None:
    first = file_set if isinstance(file_set, str) else next(iter(file_set.values()), "")
    return first.split("/", 1)[0] if "/" in first else None


def _training_section(config: dict | None, sources: list[SourceFacts]) -> list[str]:
    if config is None:
        return ["## Training", "", "No `config.yaml` was found beside the model; the training recipe is unknown.", ""]
    loss, model = config.get("loss") or {}, config.get("model") or {}
    objectives = list(dict.fromkeys(source.objective or "as stored" for source in sources))
    rows = [("objectives", ", ".join(objectives) or None), ("steps", config.get("max_steps")),
            ("batch size per process", config.get("batch_size")),
            ("learning rate", config.get("learning_rate")), ("warmup steps", config.get("warmup_steps")),
            ("temperature", loss.get("temperature")),
            ("distillation terms", loss.get("distill_mode") if "distill" in objectives else None),
            ("max length", model.get("max_length")), ("mixed precision", config.get("mixed_precision")),
            ("seed", config.get("seed"))]
    out = ["## Training", "", "| setting | value |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in rows if value is not None]
    return out + ["", "Full config:", "", "```yaml", yaml.safe_dump(config, sort_keys=False).strip(), "```", ""]


def _data_section(sources: list[SourceFacts]) -> list[str]:
    if not sources:
        return []
    out = ["## Training data", "", "| source | corpus | objective | weight | files or dataset | languages | licence |",
           "|---|---|---|---|---|---|---|"]
    for source in sources:
        licence = "; ".join(f"{lic.text or 'not recorded'} (`{lic.hub_id}`)" for _, lic in source.licences)
        cells = [source.label, source.corpus, source.objective or "as stored", f"{source.weight:g}", source.where,
                 ", ".join(source.languages) or "not recorded", licence]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return out + [""]


def _licence_section(forced_by: str, licence: Licence, any_data: bool) -> list[str]:
    order = " < ".join(FAMILIES)
    if not any_data:
        said = "`license: unknown`: the run's config records no training data, so its licence cannot be derived."
    elif licence.family == "unknown":
        said = (f"`license: unknown`: the licence of {forced_by} is not recorded (no licence line in the data "
                "manifest covers it), so nothing may be assumed; check its terms before using or publishing "
                "this model.")
    else:
        said = (f"`license: {licence.hub_id}` is the most restrictive of the training data's licences, forced by "
                f"{forced_by}: \"{licence.text}\".")
    return ["## Licence", "", said, "",
            f"A model is bound by the terms of every corpus it learned from, so the card claims the strictest "
            f"(order: {order}; read from the data manifest by `mlsimcse.licences`). The base model's own "
            "licence applies too.", ""]


def _results_section(results: dict | None, dev: dict | None) -> list[str]:
    out = ["## Evaluation", ""]
    if dev:
        out += [f"The checkpoint was selected on {dev.get('eval_task')}: {dev['eval_score']:.2f} at step "
                f"{dev.get('step')}, the run's best dev score.", ""]
    if not results:
        return out if dev else out + ["Not evaluated yet: run `mlsimcse eval` and export with `--results`.", ""]
    runs = results["runs"]
    scores = [{r["task"]: r for r in run["results"]} for run in runs]
    out += [f"mlsimcse {results.get('mlsimcse_version')} on {results.get('date')}.", "",
            "| task | " + " | ".join(run["model"] for run in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for task in scores[-1]:
        first = scores[-1][task]
        label = first.get("details", {}).get("title") or task
        cells = [f"{column[task]['main_score']:.2f}" if task in column else "-" for column in scores]
        out.append(f"| {label} ({first.get('main_metric', '')}) | " + " | ".join(cells) + " |")
    return out + [""]


def _card_licence(model_dir: Path) -> str | None:
    """The ``license:`` of the folder's own model card (a Hub download has one), carried into the new card."""
    card = model_dir / CARD
    if not card.is_file():
        return None
    found = re.match(r"^---\n(.*?)\n---", card.read_text(encoding="utf-8", errors="replace"), re.S)
    licence = re.search(r"^license:\s*(\S.*)$", found.group(1), re.M) if found else None
    return licence.group(1).strip() if licence else None


def _read_yaml(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError(f"not a valid YAML file ({err})", path=path) from None
    if not isinstance(data, dict):
        raise InputError("must hold a YAML mapping (the run's training config)", path=path)
    return data
