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

The copy is the model sentence-transformers loads, and no more: ``train_head/``, the MLP head that only
training uses (SimCSE drops it at inference), stays behind in the run's model folder and checkpoints, where
training can continue from it. Its ``mlsimcse_config.json`` is written afresh with only what the
sentence-transformers files cannot hold, which also brings a folder saved by an older mlsimcse up to date.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from mlsimcse.cli_types import add_command
from mlsimcse.errors import InputError
from mlsimcse.io_utils import atomic_path, refuse_existing_output

FORMATS = ("sentence-transformers",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "export", run,
                         "copy a trained model into a sentence-transformers folder with a model card")
    parser.add_argument("model_dir", help="the model folder to export")
    parser.add_argument("out", help="new folder to write")
    parser.add_argument("--to", default="sentence-transformers", choices=FORMATS, help="target layout")
    parser.add_argument("--results", default=None,
                        help="results JSON of `mlsimcse eval` or the quickstart (default: the run's results.json)")


def run(args: argparse.Namespace) -> int:
    """Copy MODEL_DIR (a run's model/ folder or any mlsimcse model) to OUT, loadable with SentenceTransformer(OUT),
    and write OUT/README.md: training recipe (from the run's config.yaml), data sources with licences, and the
    evaluation table (from results.json)."""
    out = export_model(args.model_dir, args.out, results_path=args.results)
    print(f"exported to {out} (load with SentenceTransformer({str(out)!r}))")
    return 0


def export_model(model_dir: str | Path, out: str | Path, results_path: str | Path | None = None) -> Path:
    """Copy the model folder and add README.md; refuses to write over an existing folder."""
    from mlsimcse.model_card import CARD, model_card, run_record
    from mlsimcse.st_layout import MLSIMCSE_CONFIG, TRAIN_HEAD_DIR, check_model_folder, write_own_config
    from mlsimcse.st_settings import read_settings

    model_dir, out = Path(model_dir), Path(out)
    if not (model_dir / "modules.json").is_file():
        raise InputError("not a saved model folder (no modules.json)", path=model_dir)
    refuse_existing_output(out, "export target already exists; choose a new folder", empty_ok=False)
    root = model_dir.resolve()
    if root in out.resolve().parents:
        raise InputError(f"the export folder lies inside the model folder {model_dir}, which it copies; "
                         "choose a folder outside it", path=out)
    settings, backbone = read_settings(model_dir)
    check_model_folder(model_dir / backbone)
    _refuse_links_out_of(root, model_dir)
    trained_here = (model_dir / MLSIMCSE_CONFIG).is_file()
    run_dir = model_dir.parent
    config, dev = run_record(model_dir) if trained_here else (None, None)
    results_file = Path(results_path) if results_path else run_dir / "results.json"
    if results_path and not results_file.is_file():
        raise InputError("results file not found", path=results_path)
    results = _read_results(results_file) if results_path or (trained_here and results_file.is_file()) else None

    def training_only(directory: str, names: list[str]) -> list[str]:
        return [TRAIN_HEAD_DIR] if Path(directory) == model_dir and TRAIN_HEAD_DIR in names else []

    with atomic_path(out, is_dir=True, inputs=[model_dir, results_file]) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True, ignore=training_only)
        if trained_here:
            write_own_config(tmp, settings)
        exported, _ = read_settings(tmp)  # what the copy loads as: cls, not cls_mlp, once train_head/ is left out
        (tmp / CARD).write_text(model_card(model_dir, config, results, settings=exported, trained_here=trained_here,
                                           dev=dev), encoding="utf-8")
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
