"""The training config's ``data:`` section: which example sources feed training and how they mix.

The trainer embeds :class:`MixtureConfig` in its own config, so it must load from plain YAML dicts with
clear errors for typos (an unknown key silently ignored would train on the wrong data).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from mlsimcse.errors import InputError

DEFAULT_LANGUAGE_ALPHA = 0.5
"""Temperature exponent for p(lang) ∝ n_lang ** alpha.

1.0 keeps natural frequencies (large languages drown small ones); 0.0 is uniform (a 1k-sentence language
is repeated as often as a 1M one, which overfits it). XLM-R pre-training used 0.3 over corpora that differ
by four orders of magnitude; sentence-embedding corpora differ by one or two, where 0.5 roughly halves the
imbalance on a log scale without repeating small languages dozens of times per epoch.
"""


@dataclass
class SourceSpec:
    """One entry of ``data.sources``: where examples come from and how much of the mix they get."""

    path: str
    weight: float = 1.0
    name: str | None = None
    streaming: bool = False
    objective: str | None = None  # train these texts under another objective, e.g. parallel pairs as distill

    @property
    def label(self) -> str:
        """The name batches and sampler state use for this source."""
        return self.name or self.path


@dataclass
class MixtureConfig:
    """Sources and the batch-composition policy of one training run."""

    sources: list[SourceSpec] = field(default_factory=list)
    language_alpha: float = DEFAULT_LANGUAGE_ALPHA
    language_homogeneous: bool = False

    def __post_init__(self) -> None:
        if not self.sources:
            raise InputError("data.sources is empty: name at least one dataset, JSONL file or recipe")
        labels = [spec.label for spec in self.sources]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise InputError(f"data.sources names {repeated} more than once; give each entry a distinct name")
        for spec in self.sources:
            if not spec.weight > 0:
                raise InputError(f"data.sources[{spec.label!r}].weight must be > 0, got {spec.weight}")
        if not 0.0 <= self.language_alpha <= 1.0:
            raise InputError(f"data.language_alpha must be in [0, 1], got {self.language_alpha}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "MixtureConfig":
        """Build from a YAML mapping; a source may be a bare path string."""
        if not isinstance(raw, dict):
            raise InputError(f"data: expected a mapping, got {type(raw).__name__}")
        _reject_unknown_keys(raw, cls, "data")
        sources_raw = raw.get("sources")
        if not isinstance(sources_raw, list):
            raise InputError("data.sources must be a list of paths or {path, weight, name, streaming} mappings")
        sources = []
        for index, entry in enumerate(sources_raw):
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict) or "path" not in entry:
                raise InputError(f"data.sources[{index}] needs a 'path'")
            _reject_unknown_keys(entry, SourceSpec, f"data.sources[{index}]")
            sources.append(SourceSpec(**entry))
        options = {key: value for key, value in raw.items() if key != "sources"}
        return cls(sources=sources, **options)


def _reject_unknown_keys(raw: dict[str, Any], schema: type, where: str) -> None:
    known = {f.name for f in fields(schema)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}")
