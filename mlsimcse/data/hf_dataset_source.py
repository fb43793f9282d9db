"""Training sources in the ecosystem's form: a Hugging Face ``datasets`` dataset with sentence-transformers' columns.

A user who already has data for sentence-transformers' trainer has a ``Dataset`` (or ``IterableDataset``) with
``anchor`` / ``positive`` / ``negative`` columns, or a single ``text`` column for unsupervised SimCSE. Such a
dataset trains here as it is: handed to ``train(config, datasets={"NAME": ds})``, saved with ``save_to_disk``,
or named on the Hub, through a source entry ``- dataset: NAME_OR_PATH`` with optional ``columns:`` (role ->
the dataset's column, e.g. ``{anchor: premise, positive: hypothesis}``), ``objective:``, ``split:`` and
``subset:`` (the Hub config).

Columns become :class:`~mlsimcse.records.Example` texts by role, and the roles present choose the objective
unless ``objective:`` does:

========================== ==================== ==============================================
roles present              default objective    texts
========================== ==================== ==============================================
anchor, positive, negative ``sup``              (anchor, positive, negative)
anchor, positive           ``parallel``         (anchor, positive); ``distill`` takes them too
text                       ``unsup``            (text,); ``distill`` takes it as (sentence,)
========================== ==================== ==============================================

Rows that share an anchor form one translation group (one premise's triplets, one sentence's translations),
so the sampler never puts two of them in a batch and the loss masks them as negatives; rows carry no language,
so a source is one bucket. The rows are read into memory, an ``IterableDataset``'s too, since the sampler needs
each bucket's size before the first batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from mlsimcse.data.buckets import Bucket, buckets_from_examples
from mlsimcse.data.mixture import SourceSpec
from mlsimcse.data.normalize import normalize_text
from mlsimcse.errors import InputError
from mlsimcse.records import Example

ROLES = ("anchor", "positive", "negative", "text")
"""sentence-transformers' column names, which ``columns:`` maps onto a dataset's own."""

OBJECTIVE_ROLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "sup": (("anchor", "positive", "negative"),),
    "parallel": (("anchor", "positive"),),
    "distill": (("anchor", "positive"), ("text",)),
    "unsup": (("text",),),
}
"""Objective -> the role sets it can read, first match wins."""

DEFAULT_SPLIT = "train"


def open_dataset_source(spec: SourceSpec, datasets: Mapping[str, Any]) -> list[Bucket]:
    """The buckets of a ``dataset:`` source: ``datasets[spec.dataset]``, a saved folder, or a Hub dataset."""
    if spec.streaming:
        raise InputError(f"data.sources[{spec.label!r}]: streaming reads JSONL files; a dataset source is read "
                         "into memory (write it with `mlsimcse data build --format jsonl` to stream it)")
    rows = load_rows(spec, datasets)
    column_names = _column_names(rows)
    roles = _role_columns(spec, column_names)
    objective, used = _objective_and_roles(spec, roles, column_names)
    return buckets_from_examples(_examples(rows, spec.label, objective, [(role, roles[role]) for role in used]))


def load_rows(spec: SourceSpec, datasets: Mapping[str, Any]):
    """The ``Dataset`` / ``IterableDataset`` a source names (one split of a dataset dict)."""
    name = spec.dataset
    if name in datasets:
        found, origin = datasets[name], f"datasets[{name!r}]"
    elif Path(name).expanduser().exists():
        found, origin = _load_from_disk(Path(name).expanduser()), name
    else:
        found, origin = _load_from_hub(spec), f"hub:{name}"
    return _one_split(found, spec.split, origin)


def _load_from_disk(path: Path):
    from datasets import load_from_disk

    try:
        return load_from_disk(str(path))
    except FileNotFoundError as err:
        raise InputError(f"not a dataset saved with save_to_disk ({err})", path=path) from None


def _load_from_hub(spec: SourceSpec):
    from datasets import load_dataset

    try:
        return load_dataset(spec.dataset, spec.subset, split=spec.split)
    except Exception as err:  # offline, unknown repository, bad config: all end the same for the user
        raise InputError(f"dataset {spec.dataset!r} is not among the datasets given to train(), not a folder, "
                         f"and could not be loaded from the Hub ({type(err).__name__}: {err})") from None


def _one_split(found: Any, split: str | None, origin: str):
    from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

    if isinstance(found, (DatasetDict, IterableDatasetDict)):
        splits = list(found)
        chosen = split or (splits[0] if len(splits) == 1 else DEFAULT_SPLIT)
        if chosen not in found:
            raise InputError(f"{origin} has splits {splits}; choose one with split:")
        return found[chosen]
    if not isinstance(found, (Dataset, IterableDataset)):
        raise InputError(f"{origin} is a {type(found).__name__}, not a datasets Dataset or IterableDataset")
    return found


def _column_names(rows) -> list[str]:
    """The dataset's columns; an IterableDataset of unknown features shows them in its first row."""
    if rows.column_names is not None:
        return list(rows.column_names)
    first = next(iter(rows), None)
    if first is None:
        raise InputError("the dataset holds no rows")
    return list(first)


def _role_columns(spec: SourceSpec, column_names: list[str]) -> dict[str, str]:
    """Role -> dataset column, for the roles the dataset has (``columns:`` renames, others keep their names)."""
    mapping = dict(spec.columns or {})
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise InputError(f"data.sources[{spec.label!r}].columns: unknown role(s) {unknown}; roles are "
                         f"{', '.join(ROLES)} (each mapped to one of the dataset's columns)")
    missing = sorted(column for column in mapping.values() if column not in column_names)
    if missing:
        raise InputError(f"data.sources[{spec.label!r}].columns names {missing}, which the dataset lacks; "
                         f"its columns: {column_names}")
    return {role: mapping.get(role, role) for role in ROLES if mapping.get(role, role) in column_names}


def _objective_and_roles(spec: SourceSpec, roles: dict[str, str],
                         column_names: list[str]) -> tuple[str, tuple[str, ...]]:
    """The objective (given, or the richest the roles allow) and the roles its texts are read from."""
    candidates = [spec.objective] if spec.objective else ["sup", "parallel", "unsup"]
    for objective in candidates:  # SourceSpec has checked a given objective's name
        for needed in OBJECTIVE_ROLES[objective]:
            if all(role in roles for role in needed):
                return objective, needed
    wanted = " or ".join("+".join(needed) for objective in candidates for needed in OBJECTIVE_ROLES[objective])
    raise InputError(f"data.sources[{spec.label!r}]: the dataset's columns {column_names} give no {wanted}; name "
                     "them as sentence-transformers does or map them with columns: {ROLE: COLUMN}")


def _examples(rows: Iterable[dict[str, Any]], label: str, objective: str,
              columns: list[tuple[str, str]]) -> Iterator[Example]:
    """One example per row; an empty or non-text cell is an error naming the row and column."""
    paired = len(columns) > 1
    for index, row in enumerate(rows):
        texts = []
        for role, column in columns:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                shown = "empty" if isinstance(value, str) or value is None else f"a {type(value).__name__}, not text"
                raise InputError(f"source {label!r}: row {index}: column {column!r} ({role}) is {shown}")
            texts.append(value.strip())
        group = f"{label}/{normalize_text(texts[0])}" if paired else None
        yield Example(objective, tuple(texts), group=group, source=label)
