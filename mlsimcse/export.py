"""``mlsimcse export``: hand a trained encoder to sentence-transformers users, with a model card.

A saved mlsimcse model already is a sentence-transformers folder; exporting copies it and writes the card a
model hub expects — how it was trained, on which data under which licences, and how it scores — from the
files the run left beside it (``config.yaml``, ``results.json``) and the data manifest's licence lines.

Any sentence-transformers folder can be exported (a base model before training, to publish its evaluation
beside a trained one): its card then says what the folder itself tells — pooling, length, the licence of its
own card — and takes scores only from ``--results``, since files beside a folder mlsimcse did not write are
not its run's. The folder is checked as loading checks it, so a damaged model is never published, and a
symlink that leads out of it is refused: the copy would carry the linked file's contents into a folder
meant for publishing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path
from mlsimcse.paths import data_root
from mlsimcse.st_layout import MLSIMCSE_CONFIG, EncoderSettings, check_model_folder, read_settings

FORMATS = ("sentence-transformers",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="copy a trained model into a sentence-transformers folder with a model card",
        description="Copy MODEL_DIR (a run's model/ folder or any mlsimcse model) to OUT, loadable with "
                    "SentenceTransformer(OUT), and write OUT/README.md: training recipe (from the run's "
                    "config.yaml), data sources with licences, and the evaluation table (from results.json).")
    parser.add_argument("model_dir", help="the model folder to export")
    parser.add_argument("out", help="new folder to write")
    parser.add_argument("--to", default="sentence-transformers", choices=FORMATS, help="target layout")
    parser.add_argument("--results", default=None,
                        help="results JSON of `mlsimcse eval` or the quickstart (default: the run's results.json)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = export_model(args.model_dir, args.out, results_path=args.results)
    print(f"exported to {out} (load with SentenceTransformer({str(out)!r}))")
    return 0


def export_model(model_dir: str | Path, out: str | Path, results_path: str | Path | None = None) -> Path:
    """Copy the model folder and add README.md; refuses to write over an existing folder."""
    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "modules.json").is_file():
        raise InputError("not a saved model folder (no modules.json)", path=model_dir)
    if os.path.lexists(out):
        raise InputError("export target already exists; choose a new folder", path=out)
    root = model_dir.resolve()
    if root in out.resolve().parents:
        raise InputError(f"the export folder lies inside the model folder {model_dir}, which it copies; "
                         "choose a folder outside it", path=out)
    settings, backbone = read_settings(model_dir)
    check_model_folder(model_dir / backbone)
    _refuse_links_out_of(root, model_dir)
    trained_here = (model_dir / MLSIMCSE_CONFIG).is_file()
    run_dir = model_dir.parent
    config = _read_yaml(run_dir / "config.yaml") if trained_here else None
    results_file = Path(results_path) if results_path else run_dir / "results.json"
    if results_path and not results_file.is_file():
        raise InputError("results file not found", path=results_path)
    results = _read_results(results_file) if results_path or (trained_here and results_file.is_file()) else None
    with atomic_path(out, is_dir=True, inputs=[model_dir, results_file]) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        (tmp / "README.md").write_text(model_card(model_dir, config, results, settings=settings,
                                                  trained_here=trained_here), encoding="utf-8")
    return out


def _refuse_links_out_of(root: Path, shown: Path) -> None:
    """:class:`InputError` for a symlink under ``root`` that resolves outside it, to nothing, or to a folder
    that holds it (which copying would follow forever); named under ``shown``, the folder as the user gave it."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if not (Path(folder) / name).is_symlink():
                continue
            target = (Path(folder) / name).resolve()
            link = shown / (Path(folder) / name).relative_to(root)
            if not target.exists():
                raise InputError(f"is a symlink to {target}, which does not exist", path=link)
            if target != root and root not in target.parents:
                raise InputError(f"is a symlink to {target}, outside the model folder; export copies what links "
                                 "point to into a folder meant for publishing, so it refuses links that leave the "
                                 "model folder (copy the file in if it belongs to the model)", path=link)
            if target == Path(folder) or target in Path(folder).parents:
                raise InputError(f"is a symlink to {target}, a folder that holds it: copying would never end",
                                 path=link)


def _read_results(path: Path) -> dict[str, Any]:
    """An ``mlsimcse eval`` or quickstart results file, checked for the fields the card reads."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not a valid JSON results file ({err})", path=path) from None
    runs = results.get("runs") if isinstance(results, dict) else None
    valid = isinstance(runs, list) and runs and all(
        isinstance(run, dict) and "model" in run and isinstance(run.get("results"), list)
        and all(isinstance(r, dict) and "task" in r and isinstance(r.get("main_score"), (int, float))
                for r in run["results"])
        for run in runs)
    if not valid:
        raise InputError("not an mlsimcse results file: it needs \"runs\", each with a \"model\" and "
                         "\"results\" of {\"task\", \"main_score\"} (what `mlsimcse eval --output` writes)", path=path)
    return results


def model_card(model_dir: Path, config: dict | None, results: dict | None, *,
               settings: EncoderSettings | None = None, trained_here: bool = True) -> str:
    """The README.md of an export: front matter, what the encoder is, how it was trained, data, scores."""
    if settings is None:
        settings, _ = read_settings(model_dir)
    model_dir = model_dir.resolve()
    licence = _card_licence(model_dir)
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
             "tags: [sentence-transformers, sentence-similarity, mlsimcse, simcse, multilingual]"]
    lines += [f"license: {licence}"] if licence else []
    described = f"{settings.pooling} pooling, max length {settings.max_length}"
    if trained_here:
        lines += ["---", "", f"# {model_dir.parent.name}", "",
                  f"A sentence encoder trained with mlsimcse from `{settings.base_model}` ({described}).", ""]
    else:
        lines += ["---", "", f"# {model_dir.name}", "",
                  f"A sentence-transformers encoder ({described}), exported with mlsimcse; it was not trained "
                  "with mlsimcse, so this card has no training recipe.", ""]
    lines += ["```python", "from sentence_transformers import SentenceTransformer",
              "model = SentenceTransformer('PATH')", "vectors = model.encode(['Hello world', 'Hallo Welt'])", "```", ""]
    if trained_here:
        lines += _training_section(config)
    lines += _data_section(config)
    lines += _results_section(results)
    return "\n".join(lines) + "\n"


def _training_section(config: dict | None) -> list[str]:
    if config is None:
        return ["## Training", "", "No `config.yaml` was found beside the model; the training recipe is unknown.", ""]
    loss = config.get("loss", {})
    rows = [("steps", config.get("max_steps")), ("batch size per process", config.get("batch_size")),
            ("learning rate", config.get("learning_rate")), ("warmup steps", config.get("warmup_steps")),
            ("temperature", loss.get("temperature")), ("max length", config.get("model", {}).get("max_length")),
            ("mixed precision", config.get("mixed_precision")), ("seed", config.get("seed"))]
    out = ["## Training", "", "| setting | value |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in rows]
    return out + ["", "Full config:", "", "```yaml", yaml.safe_dump(config, sort_keys=False).strip(), "```", ""]


def _data_section(config: dict | None) -> list[str]:
    from mlsimcse.data.recipe import load_recipe

    if config is None or not config.get("data"):
        return []
    licences = manifest_licences()
    out = ["## Training data", "", "| source | files or dataset | licence |", "|---|---|---|"]
    for entry in config["data"]["sources"]:
        path = Path(entry["path"] if isinstance(entry, dict) else entry)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            out.append(f"| {path.name} | {path} | see the dataset's own terms |")
            continue
        for source in load_recipe(path).sources:
            folders = sorted({_top_folder(s) for s in (source.local.sets if source.local else [])} - {None})
            where = ", ".join(f"`{f}/`" for f in folders) or (f"`{source.hub.dataset}`" if source.hub else "")
            licence = "; ".join(licences.get(f, "see the data's own terms") for f in folders) or "see the dataset card"
            out.append(f"| {source.name} | {where} | {licence} |")
    return out + [""]


def _results_section(results: dict | None) -> list[str]:
    if not results:
        return ["## Evaluation", "", "Not evaluated yet: run `mlsimcse eval` and export with `--results`.", ""]
    runs = results["runs"]
    scores = [{r["task"]: r for r in run["results"]} for run in runs]
    tasks = list(scores[-1])
    out = ["## Evaluation", "", f"mlsimcse {results.get('mlsimcse_version')} on {results.get('date')}.", "",
           "| task | " + " | ".join(run["model"] for run in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for task in tasks:
        first = scores[-1][task]
        label = first.get("details", {}).get("title") or task
        cells = [f"{column[task]['main_score']:.2f}" if task in column else "-" for column in scores]
        out.append(f"| {label} ({first.get('main_metric', '')}) | " + " | ".join(cells) + " |")
    return out + [""]


def manifest_licences() -> dict[str, str]:
    """Data folder -> its licence line, read from the shared data's MANIFEST.md (empty when absent)."""
    manifest = data_root() / "MANIFEST.md"
    if not manifest.is_file():
        return {}
    licences, folder = {}, None
    for line in manifest.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## ([\w\-.]+)/", line)
        if heading:
            folder = heading.group(1)
        elif folder and line.startswith("- Licence:"):
            licences[folder] = line.removeprefix("- Licence:").strip().split(". ")[0].rstrip(".")
    return licences


def _top_folder(file_set) -> str | None:
    first = file_set if isinstance(file_set, str) else next(iter(file_set.values()), "")
    return first.split("/", 1)[0] if "/" in first else None


def _card_licence(model_dir: Path) -> str | None:
    """The ``license:`` of the folder's own model card (a Hub download has one), carried into the new card."""
    card = model_dir / "README.md"
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
