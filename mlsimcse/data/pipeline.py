"""Run a recipe: read each source in its local or Hub form, clean it up, and account for every row.

This is what both ``mlsimcse data build`` and a training config that names a recipe YAML go through, so a
recipe yields the same examples whether it is built first or consumed directly.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from pathlib import Path
from typing import Any, Iterable, Iterator

from mlsimcse.data.aligned_source import read_aligned_source
from mlsimcse.data.buckets import language_key
from mlsimcse.data.cleanup import ExampleCleaner
from mlsimcse.data.eval_sentences import load_eval_sentences
from mlsimcse.data.nli_source import read_nli_source
from mlsimcse.data.recipe import Recipe, SourceRecipe, load_recipe, recipe_as_dict
from mlsimcse.data.report import BadRowPolicy, SourceReport
from mlsimcse.choices import FORMS
from mlsimcse.errors import InputError
from mlsimcse.paths import data_root as default_data_root
from mlsimcse.records import Example



def load_recipe_examples(
    recipe_path: str | Path, data_root: str | Path | None = None, form: str = "local"
) -> tuple[list[Example] | Iterable[Example], dict[str, Any]]:
    """Examples of a recipe and its manifest.

    ``form`` picks which form of each source is read; sources without it are skipped and listed in the
    manifest (a Wikipedia source that only exists on the Hub is skipped offline). The examples are a
    list, unless the Hub form is used with a streaming Hub source: then a one-pass iterable, and the
    manifest's counts are filled in once it has been consumed.
    """
    run = RecipeRun(load_recipe(recipe_path), data_root, form)
    if run.streams:
        return run.examples(), run.manifest
    examples = list(run.examples())
    return examples, run.manifest


class RecipeRun:
    """One pass over a recipe's sources; ``manifest`` is complete when ``examples()`` is exhausted."""

    def __init__(self, recipe: Recipe, data_root: str | Path | None, form: str):
        if form not in FORMS:
            raise InputError(f"unknown source form {form!r}; expected one of {FORMS}")
        self.recipe = recipe
        self.data_root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
        self.form = form
        self.sources = [source for source in recipe.sources if getattr(source, form) is not None]
        self.skipped = {source.name: f"no {form} form" for source in recipe.sources if getattr(source, form) is None}
        if not self.sources:
            raise InputError(f"no source of this recipe has a {form} form", path=recipe.path)
        self.streams = form == "hub" and any(source.hub.streaming for source in self.sources)
        self.eval_sentences = load_eval_sentences(self.data_root) if recipe.decontaminate else None
        self.reports: list[SourceReport] = []
        self.manifest: dict[str, Any] = {}

    def examples(self) -> Iterator[Example]:
        for source in self.sources:
            report = SourceReport(source.name, source.shape, self.form)
            self.reports.append(report)
            cleaner = ExampleCleaner(source, report, self.eval_sentences)
            for row in _rows(source, self._read(source, report)):
                report.candidates += len(row)
                for example in cleaner.keep_row(row):
                    report.kept[language_key(example)] += 1
                    yield example
        self.manifest.update(recipe_manifest(self, self.reports))

    def _read(self, source: SourceRecipe, report: SourceReport) -> Iterator[Example]:
        on_problem = BadRowPolicy(source.on_bad_row == "skip", report)
        if self.form == "hub":
            # `datasets` takes seconds to import and only the Hub form needs it.
            from mlsimcse.data.hub_source import read_hub_source

            return read_hub_source(source, report, on_problem, self.recipe.seed)
        if source.kind == "nli":
            return read_nli_source(source, self.data_root, report, on_problem, self.recipe.seed)
        return read_aligned_source(source, self.data_root, report, on_problem)


def _rows(source: SourceRecipe, examples: Iterator[Example]) -> Iterator[list[Example]]:
    """Examples as the units decontamination judges: a scored source's aligned row, else one example."""
    if source.shape != "scored":
        return ([example] for example in examples)
    return (list(row) for _, row in groupby(examples, key=lambda example: example.group))


def recipe_manifest(run: RecipeRun, reports: list[SourceReport]) -> dict[str, Any]:
    """Counts per source and language, dropped rows by reason, decontamination and input hashes."""
    by_objective: Counter = Counter()
    by_language: Counter = Counter()
    for report in reports:
        by_objective[report.shape] += sum(report.kept.values())
        for lang, count in report.kept.items():
            by_language[f"{report.shape}/{lang}"] += count
    removed = {report.name: sum(report.decontaminated.values()) for report in reports}
    recipe, eval_sentences = run.recipe, run.eval_sentences
    return {
        "recipe": recipe_as_dict(recipe),
        "recipe_sha256": recipe.sha256(),
        "form": run.form,
        "data_root": str(run.data_root),
        "examples": sum(by_objective.values()),
        "examples_by_objective": dict(sorted(by_objective.items())),
        "examples_by_language": dict(sorted(by_language.items())),
        "sources": {report.name: report.as_dict() for report in reports},
        "skipped_sources": run.skipped,
        "decontamination": {
            "enabled": eval_sentences is not None,
            "normalisation": "NFKC + casefold + whitespace collapse",
            "eval_sentences": 0 if eval_sentences is None else len(eval_sentences.keys),
            "eval_files_sha256": {} if eval_sentences is None else eval_sentences.files_sha256,
            "removed": sum(removed.values()),
            "removed_by_source": removed,
        },
    }
