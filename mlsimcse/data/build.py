"""Write a recipe's examples and manifest to a dataset folder, atomically and grouped for streaming.

Examples are written grouped by (objective, language) so a streaming sampler finds each bucket as one
contiguous byte range. Grouping goes through one temporary file per bucket, never through memory, so a
Hub-streamed recipe larger than RAM builds too. An interrupted build leaves no folder behind.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Iterator

from mlsimcse.data.buckets import language_key
from mlsimcse.data.dataset_files import FORMATS, MANIFEST, write_arrow
from mlsimcse.data.pipeline import RecipeRun
from mlsimcse.data.recipe import load_recipe
from mlsimcse.errors import InputError
from mlsimcse.io_utils import (atomic_path, check_output_path, refuse_existing_output, refuse_overwriting_inputs,
                               sha256_file, write_json)
from mlsimcse.records import Example, read_examples_jsonl

_PARTS = ".parts"


def build_dataset(
    recipe_path: str | Path,
    out_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    fmt: str = "jsonl",
    form: str = "local",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run the recipe into ``out_dir`` (examples file + ``manifest.json``) and return the manifest."""
    out_dir = Path(out_dir)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    if not overwrite:
        refuse_existing_output(out_dir, "output exists and is not empty; pass --overwrite to replace it")
    recipe = load_recipe(recipe_path)
    run = RecipeRun(recipe, data_root, form)
    check_output_path(out_dir, inputs=[*recipe.files, run.data_root], is_dir=True)
    with atomic_path(out_dir, is_dir=True) as tmp:
        parts = _write_parts(run.examples(), tmp / _PARTS)
        if not parts:
            raise InputError(_nothing_kept(run.manifest), path=recipe.path)
        examples_path = tmp / FORMATS[fmt]
        if fmt == "jsonl":
            rows = _concatenate(parts, examples_path)
        else:
            rows = write_arrow(examples_path, _read_parts(parts))
        shutil.rmtree(tmp / _PARTS)
        # the files actually read, which may lie in the output folder that is about to be replaced
        read = [name for report in run.reports for name in report.inputs]
        read += list(run.eval_sentences.files_sha256) if run.eval_sentences is not None else []
        refuse_overwriting_inputs([out_dir], [run.data_root / name for name in read])
        manifest = dict(run.manifest)
        manifest["output"] = {"format": fmt, "file": examples_path.name, "rows": rows,
                              "sha256": sha256_file(examples_path)}
        write_json(tmp / MANIFEST, manifest)
    return manifest


def _write_parts(examples: Iterator[Example], folder: Path) -> list[Path]:
    """Spread examples over one JSONL file per (objective, language); return them in sorted key order."""
    folder.mkdir()
    paths: dict[tuple[str, str], Path] = {}
    with ExitStack() as stack:
        handles: dict[tuple[str, str], IO[str]] = {}
        for example in examples:
            key = (example.objective, language_key(example))
            if key not in handles:
                paths[key] = folder / f"{len(paths)}.jsonl"
                handles[key] = stack.enter_context(open(paths[key], "w", encoding="utf-8"))
            handles[key].write(example.to_json() + "\n")
    return [paths[key] for key in sorted(paths)]


def _nothing_kept(manifest: dict[str, Any]) -> str:
    """Why a recipe produced no examples, from its manifest: what decontamination and clean-up removed."""
    sources = manifest["sources"].values()
    candidates = sum(report["candidates"] for report in sources)
    removed = manifest["decontamination"]["removed"]
    dropped = sum(sum(report["dropped"].values()) for report in sources)
    skipped = f"; sources skipped: {', '.join(manifest['skipped_sources'])}" if manifest["skipped_sources"] else ""
    return (f"the recipe produced no examples: of {candidates} candidates, {removed} are sentences of evaluation "
            f"sets (decontamination) and {dropped} were dropped (length, duplicates, bad rows){skipped}")


def _concatenate(parts: list[Path], target: Path) -> int:
    """Join the per-bucket JSONL parts byte for byte (they already hold the final lines); count the rows."""
    rows = 0
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as handle:
                for line in handle:
                    out.write(line)
                    rows += 1
    return rows


def _read_parts(parts: list[Path]) -> Iterator[Example]:
    for part in parts:
        yield from read_examples_jsonl(str(part))
