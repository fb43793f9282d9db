"""Resolve a :class:`SourceSpec` path (built folder, JSONL, Arrow or recipe YAML) into buckets.

The training config may name data in whichever form the user has, so the sampler accepts all of them;
only JSONL can be streamed, since it is the one format read line by line without loading it whole.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlsimcse.data.buckets import Bucket, buckets_from_examples, index_jsonl
from mlsimcse.data.dataset_files import examples_file, read_arrow
from mlsimcse.data.hf_dataset_source import open_dataset_source
from mlsimcse.data.mixture import SourceSpec
from mlsimcse.data.pipeline import load_recipe_examples
from mlsimcse.errors import InputError
from mlsimcse.records import Example, read_examples_jsonl

RECIPE_SUFFIXES = (".yaml", ".yml")


def open_source(spec: SourceSpec, data_root: str | Path | None = None,
                datasets: Mapping[str, Any] | None = None) -> list[Bucket]:
    """The buckets of one training source; streaming sources are indexed, others loaded into memory.

    ``datasets`` holds the in-memory ``datasets`` objects a ``dataset:`` source may name.
    """
    if spec.dataset is not None:
        return open_dataset_source(spec, datasets or {})
    path = Path(spec.path)
    if not path.exists():
        raise InputError("data source not found", path=path)
    if spec.streaming and spec.objective:
        raise InputError("a streaming source cannot change its examples' objective; build it with that shape",
                         path=path)
    if path.suffix in RECIPE_SUFFIXES:
        return buckets_from_examples(_as_objective(_recipe_examples(spec, path, data_root), spec.objective))
    if path.is_dir():
        path = examples_file(path)
    if spec.streaming:
        if path.suffix != ".jsonl":
            raise InputError("streaming reads JSONL line by line; build the dataset with --format jsonl", path=path)
        return index_jsonl(str(path))
    if path.suffix == ".arrow":
        return buckets_from_examples(_as_objective(read_arrow(path), spec.objective))
    return buckets_from_examples(_as_objective(read_examples_jsonl(str(path)), spec.objective))


def _recipe_examples(spec: SourceSpec, path: Path, data_root: str | Path | None) -> Iterable[Example]:
    if spec.streaming:
        raise InputError(
            "a recipe is assembled in memory; to stream it, run `mlsimcse data build` and point the source "
            "at the built folder",
            path=path,
        )
    examples, _manifest = load_recipe_examples(path, data_root=data_root)
    return examples


def _as_objective(examples: Iterable[Example], objective: str | None) -> Iterable[Example]:
    """The same texts under ``objective`` (translation pairs reused for distillation, for instance)."""
    if objective is None:
        return examples
    return (replace(example, objective=objective) for example in examples)
