"""The Hugging Face Hub form of a task's data, used when the local copy under the data root is absent.

Offline (this project's CI and the shared machines) the local files are read; anywhere else the same task
names work from the Hub. A Hub failure becomes an :class:`InputError` that names both places looked at,
since the usual cause is a data root pointing at the wrong folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsimcse.errors import InputError
from mlsimcse.evaluation.loaders.origin import DataOrigin


@dataclass(frozen=True)
class HubTable:
    """Dataset name, config and split on the Hub, and the columns to read in order.

    Only what an evaluation task reads: one fixed split, columns in task order. A training recipe's Hub
    source (:class:`mlsimcse.data.recipe.HubForm`) says much more (column roles, streaming, sentence
    splitting, a ``{lang}`` config per language), so the two are different things with different names.
    """

    dataset: str
    config: str | None
    split: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        config = f"[{self.config}]" if self.config else ""
        return f"hf://{self.dataset}{config}:{self.split}"


def load_hub_rows(form: HubTable, *, local_path: Path) -> tuple[list[tuple[Any, ...]], DataOrigin]:
    """Rows of ``form.columns`` from the Hub; ``local_path`` is the missing local file, for the message."""
    import datasets

    try:
        table = datasets.load_dataset(form.dataset, form.config, split=form.split)
    except (OSError, ValueError) as err:
        raise InputError(
            f"not in the data root and not loadable from the Hub as {form.describe()} ({err})", path=local_path
        ) from None
    absent = [column for column in form.columns if column not in table.column_names]
    if absent:
        raise InputError(f"Hub dataset {form.describe()} has no column(s) {absent}")
    rows = list(zip(*(table[column] for column in form.columns)))
    if not rows:
        raise InputError(f"Hub dataset {form.describe()} is empty")
    return rows, DataOrigin.from_hub(form.describe(), rows)
