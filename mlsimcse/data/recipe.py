"""The data-recipe schema: which corpora, which languages, which training objective, which clean-up.

A recipe is a YAML file, such as those shipped in ``mlsimcse/data_recipes/`` (:mod:`mlsimcse.shipped`). Every
source has a local form (files under the data root, used offline) and may have a Hugging Face Hub form
(dataset name, config, split, columns); both yield the same examples, so one recipe serves an offline laptop
and a cluster with Hub access. Recipes compose:
``include`` pulls in other recipes' sources and ``languages`` restricts all of them, so "STS-B parallel,
German only" is a three-line recipe. Unknown keys are errors, because a typo would otherwise silently
change the training data; so is a ``languages`` code that none of the recipe's sources offers (``[de, xx]``
would otherwise train on German alone without a word).
"""

from __future__ import annotations

import hashlib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlsimcse.data.recipe_checks import NLI_ROW_COLUMNS, check_hub_form, check_local_form
from mlsimcse.errors import InputError
from mlsimcse.schema import FieldError, coerce
from mlsimcse.shipped import resolve_recipe
from mlsimcse.yaml_marks import KeyPath, line_of, read_yaml_mapping

KINDS = {"aligned_text": ("unsup", "parallel", "scored"), "nli": ("sup",)}
"""Source kind (what the corpus is) -> the objectives its examples can have (the recipe's ``shape:`` key)."""

BAD_ROW_POLICIES = ("error", "skip")


@dataclass
class LocalForm:
    """Files under the data root. ``sets`` are groups of row-aligned files.

    A set is a path template with ``{lang}`` (expanded for every language of the source, through
    ``file_codes`` when file names use other codes), or a mapping language -> path. For ``infersent`` a
    set maps premise/hypothesis/label -> path.
    """

    format: str
    sets: list[str | dict[str, str]]
    columns: list[int] = field(default_factory=lambda: [0])
    width: int | None = None
    header: bool = False
    score_column: int | None = None
    label_column: int | None = None
    file_codes: dict[str, str] = field(default_factory=dict)


@dataclass
class HubForm:
    """A Hugging Face Hub dataset; ``config`` may contain ``{lang}`` (one load per language).

    ``columns`` maps the objective's columns (sentence / source, translation / anchor, positive, negative)
    to the dataset's; an NLI source may instead map premise, hypothesis and label, which are grouped into
    triplets like the local files (``label_names`` turns integer labels into names). ``split_sentences``
    cuts paragraphs (e.g. Wikipedia articles) into sentences.
    """

    dataset: str
    columns: dict[str, str]
    config: str | None = None
    split: str = "train"
    data_files: str | list[str] | None = None
    revision: str | None = None
    streaming: bool = False
    split_sentences: bool = False
    max_rows: int | None = None
    label_names: list[str] | None = None

    @property
    def nli_rows(self) -> bool:
        """Whether the dataset holds NLI rows (premise, hypothesis, label) rather than ready examples."""
        return set(self.columns) == set(NLI_ROW_COLUMNS)


@dataclass
class SourceRecipe:
    """One corpus in a recipe and how it becomes examples.

    ``kind`` says what the corpus is (aligned text, NLI); ``shape`` is the training objective of the examples
    it yields (:data:`mlsimcse.records.OBJECTIVES`), named ``shape`` because that is the recipe files' key.
    """

    name: str
    kind: str
    shape: str
    languages: list[str]
    local: LocalForm | None = None
    hub: HubForm | None = None
    pivot: str = "en"
    cross_lingual: bool = False
    detokenize: str | None = None
    min_chars: int = 1
    max_chars: int = 1000
    dedup: bool = True
    drop_identical: bool = True
    on_bad_row: str = "error"

    @property
    def pairs_with_pivot(self) -> bool:
        """Whether examples pair the pivot language with the others (translations, cross-lingual scored pairs)."""
        return self.shape == "parallel" or (self.shape == "scored" and self.cross_lingual)

    @property
    def other_languages(self) -> list[str]:
        return [lang for lang in self.languages if lang != self.pivot]


@dataclass
class Recipe:
    name: str
    sources: list[SourceRecipe]
    description: str = ""
    seed: int = 0
    decontaminate: bool = True
    path: Path | None = None
    files: tuple[Path, ...] = ()  # every YAML read to build it, this one first: a fingerprint must cover includes

    def sha256(self) -> str | None:
        """One digest of every file the recipe was read from, so editing an included recipe changes it too."""
        if not self.files:
            return None
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML (a path, or a shipped recipe's short name such as ``parallel-stsb``), resolving
    ``include`` and ``languages``, and validate it."""
    path = resolve_recipe(path)
    return _load(path, seen=())


def _load(path: Path, seen: tuple[Path, ...]) -> Recipe:
    resolved = path.resolve()
    if resolved in seen:
        raise InputError("recipe includes itself", path=path)
    raw, lines = read_yaml_mapping(path, "recipe")
    _reject_unknown(raw, {"name", "description", "include", "sources", "languages", "seed", "decontaminate"}, path)
    sources: list[SourceRecipe] = []
    files = [path]
    for included in _as_list(raw.get("include"), "include", path):
        inner = _load(path.parent / included, seen + (resolved,))
        sources.extend(inner.sources)
        files.extend(inner.files)
    for index, entry in enumerate(_as_list(raw.get("sources"), "sources", path)):
        sources.append(_source_from_dict(entry, f"sources[{index}]", path))
    if "languages" in raw:
        keep = _string_list(raw["languages"], "languages", path)
        _check_offered(keep, sources, path, lines)
        sources = [s for s in (_restrict(source, keep) for source in sources) if s is not None]
    if not sources:
        raise InputError("the recipe has no sources (after applying 'languages')", path=path)
    names = [source.name for source in sources]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(f"source name(s) {repeated} appear more than once", path=path)
    return Recipe(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description", "")),
        sources=sources,
        seed=_typed(raw, "seed", int, 0, path, lines),
        decontaminate=_typed(raw, "decontaminate", bool, True, path, lines),
        path=path,
        files=tuple(files),
    )


def _check_offered(keep: list[str], sources: list[SourceRecipe], path: Path, lines: dict[KeyPath, int]) -> None:
    """Every code in the recipe's ``languages`` must be one that some source (its own or included) has."""
    offered = sorted({lang for source in sources for lang in source.languages})
    for index, lang in enumerate(keep):
        if lang not in offered:
            raise InputError(f"languages: no source of this recipe offers {lang!r}; they offer "
                             f"{', '.join(offered) or 'none'}", path=path, line=line_of(lines, ("languages", index)))


def _typed(raw: dict[str, Any], key: str, hint: type, default: Any, path: Path, lines: dict[KeyPath, int]) -> Any:
    try:
        return coerce(hint, raw.get(key, default), (key,))
    except FieldError as err:
        raise InputError(str(err), path=path, line=line_of(lines, err.key)) from None


def _source_from_dict(raw: Any, where: str, path: Path) -> SourceRecipe:
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a mapping", path=path)
    values = _dataclass_values(SourceRecipe, raw, where, path, nested={"local", "hub"})
    source = SourceRecipe(**values)
    where = f"{where} ({source.name})"
    if source.kind not in KINDS:
        raise InputError(f"{where}: unknown kind {source.kind!r}; expected one of {sorted(KINDS)}", path=path)
    if source.shape not in KINDS[source.kind]:
        raise InputError(f"{where}: a {source.kind} source yields {KINDS[source.kind]}, not {source.shape!r}", path=path)
    source.languages = _string_list(source.languages, f"{where}.languages", path)
    if source.on_bad_row not in BAD_ROW_POLICIES:
        raise InputError(f"{where}: on_bad_row must be one of {BAD_ROW_POLICIES}", path=path)
    if source.detokenize not in (None, "ptb"):
        raise InputError(f"{where}: detokenize must be 'ptb' or absent", path=path)
    if source.pairs_with_pivot and source.pivot not in source.languages:
        raise InputError(f"{where}: the pivot language {source.pivot!r} must be one of its languages", path=path)
    if raw.get("local") is None and raw.get("hub") is None:
        raise InputError(f"{where}: give a 'local' form, a 'hub' form or both", path=path)
    if raw.get("local") is not None:
        source.local = LocalForm(**_dataclass_values(LocalForm, raw["local"], f"{where}.local", path))
        check_local_form(source, where, path)
    if raw.get("hub") is not None:
        source.hub = HubForm(**_dataclass_values(HubForm, raw["hub"], f"{where}.hub", path))
        check_hub_form(source, where, path)
    return source


def _restrict(source: SourceRecipe, keep: list[str]) -> SourceRecipe | None:
    """The source limited to ``keep`` (plus its pivot), or None if no language of interest is left."""
    languages = [lang for lang in source.languages if lang in keep or (source.pairs_with_pivot and lang == source.pivot)]
    yielded = [lang for lang in languages if source.shape != "parallel" or lang != source.pivot]
    if not yielded:
        return None
    source.languages = languages
    if source.local is not None:
        source.local.sets = [s for s in (_restrict_set(s, languages, source) for s in source.local.sets) if s]
        if not source.local.sets:
            return None
    return source


def _restrict_set(file_set: str | dict[str, str], languages: list[str], source: SourceRecipe):
    if not isinstance(file_set, dict) or source.local.format == "infersent":
        return file_set
    kept = {lang: file for lang, file in file_set.items() if lang in languages}
    needed = 2 if source.pairs_with_pivot else 1
    return kept if len(kept) >= needed else None


def _dataclass_values(cls: type, raw: Any, where: str, path: Path, nested: set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a mapping", path=path)
    specs = {f.name: f for f in fields(cls) if f.name not in nested}
    _reject_unknown(raw, set(specs) | set(nested), path, where)
    missing = [name for name, spec in specs.items()
               if name not in raw and spec.default is MISSING and spec.default_factory is MISSING]
    if missing:
        raise InputError(f"{where}: missing required key(s) {missing}", path=path)
    return {name: value for name, value in raw.items() if name in specs}


def _reject_unknown(raw: dict[str, Any], known: set[str], path: Path, where: str = "recipe") -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(known)}", path=path)


def _as_list(value: Any, key: str, path: Path) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"'{key}' must be a list", path=path)
    return value


def _string_list(value: Any, key: str, path: Path) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise InputError(f"'{key}' must be a non-empty list of language codes", path=path)
    return value


def recipe_as_dict(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain data, for the manifest."""
    data = asdict(recipe)
    data["path"] = None if recipe.path is None else str(recipe.path)
    data["files"] = [str(file) for file in recipe.files]
    return data
