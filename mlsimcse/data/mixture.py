"""The training config's ``data:`` section: which example sources feed training and how they mix.

The trainer embeds :class:`MixtureConfig` in its own config, so it must load from plain YAML dicts with
clear errors for typos (an unknown key silently ignored would train on the wrong data). Types and ranges are
checked by :mod:`mlsimcse.schema` from the fields below, as for the rest of the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mlsimcse.errors import InputError
from mlsimcse.prompts import check_column_prompts
from mlsimcse.records import OBJECTIVES, OBJECTIVE_COLUMNS
from mlsimcse.schema import FieldError, build, check_fields, setting
from mlsimcse.shipped import source_path

ALL_COLUMNS = tuple(dict.fromkeys(name for names in OBJECTIVE_COLUMNS.values() for name in names))
"""Column names a source's per-column ``prompt`` may use (each objective's, see :data:`OBJECTIVE_COLUMNS`)."""

DEFAULT_LANGUAGE_ALPHA = 0.5
"""Temperature exponent for p(lang) ∝ n_lang ** alpha.

1.0 keeps natural frequencies (large languages drown small ones); 0.0 is uniform (a 1k-sentence language
is repeated as often as a 1M one, which overfits it). XLM-R pre-training used 0.3 over corpora that differ
by four orders of magnitude; sentence-embedding corpora differ by one or two, where 0.5 roughly halves the
imbalance on a log scale without repeating small languages dozens of times per epoch.
"""


@dataclass
class SourceSpec:
    """One entry of ``data.sources``: where examples come from and how much of the mix they get.

    Examples come from ``path`` (a recipe, or a shipped recipe's short name; a built folder or JSONL/Arrow file)
    or from ``dataset`` (a Hugging Face dataset with sentence-transformers' columns: a name given to
    ``train(datasets=...)``, a ``save_to_disk`` folder or a Hub name; ``columns``, ``split`` and ``subset`` apply
    to it; :mod:`mlsimcse.data.hf_dataset_source`).
    """

    SHORTHAND: ClassVar[str] = "path"  # a bare string in data.sources is the path

    path: str | None = None
    weight: float = setting(1.0, gt=0)
    name: str | None = None
    streaming: bool = False
    # train these texts under another objective, e.g. parallel pairs as distill
    objective: str | None = setting(None, choices=OBJECTIVES)
    prompt: str | dict[str, str | None] | None = None  # put before every text, or {column: text} (prompts.py)
    dataset: str | None = None  # a datasets Dataset: name passed to train(datasets=...), save_to_disk folder or Hub
    columns: dict[str, str] | None = None  # dataset only: sentence-transformers role -> the dataset's column
    split: str | None = None  # dataset only: which split of a dataset dict (default: the only one, else train)
    subset: str | None = None  # dataset only: the Hub dataset's config

    def __post_init__(self) -> None:
        check_fields(self)
        if self.path is not None:
            self.path = source_path(self.path)  # a shipped recipe's short name -> its file
        if (self.path is None) == (self.dataset is None):
            raise InputError(f"data.sources entry {self.name or self.path or self.dataset!r} needs exactly one of "
                             "'path' (recipe, built folder, JSONL) or 'dataset' (a datasets Dataset)")
        if self.dataset is None and (self.columns, self.split, self.subset) != (None, None, None):
            raise InputError(f"data.sources[{self.label!r}]: columns, split and subset apply to 'dataset' sources")
        if self.columns is not None and not isinstance(self.columns, dict):
            raise InputError(f"data.sources[{self.label!r}].columns must map roles to column names, e.g. "
                             "{anchor: premise, positive: hypothesis}")

    @property
    def label(self) -> str:
        """The name batches and sampler state use for this source."""
        return self.name or self.path or self.dataset


@dataclass
class MixtureConfig:
    """Sources and the batch-composition policy of one training run."""

    sources: list[SourceSpec] = setting(factory=list)
    language_alpha: float = setting(DEFAULT_LANGUAGE_ALPHA, ge=0.0, le=1.0)
    language_homogeneous: bool = False

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.sources:
            raise FieldError(("sources",), "is empty: name at least one dataset, JSONL file or recipe")
        labels = [spec.label for spec in self.sources]
        for index, label in enumerate(labels):
            if label in labels[:index]:
                raise FieldError(("sources", index), f"names {label!r} again (more than once in data.sources); "
                                                     "give each entry a distinct name")
        for spec in self.sources:
            check_column_prompts(spec.prompt, ALL_COLUMNS, f"data.sources[{spec.label!r}]")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "MixtureConfig":
        """Build from a YAML mapping (the config's ``data:`` section); a source may be a bare path string."""
        return build(cls, raw, ("data",))

    def check_files(self) -> None:
        """Every source path exists and every recipe parses (its YAML only: no corpus is read).

        The trainer calls this before it loads a model, so a misspelt path or a bad recipe fails in a second.
        """
        from mlsimcse.data.recipe import load_recipe
        from mlsimcse.data.sources import RECIPE_SUFFIXES

        for index, spec in enumerate(self.sources):
            if spec.path is None:
                continue
            path = Path(spec.path)
            if not path.exists():
                raise FieldError(("sources", index, "path"), f"names {spec.path}, which does not exist")
            if path.suffix in RECIPE_SUFFIXES and path.is_file():
                load_recipe(path)

