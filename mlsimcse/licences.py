"""Which licence a trained model carries: each data folder's licence line, classified, the most restrictive wins.

A model trained on several corpora is bound by all of their terms at once, so its card can only claim the
strictest of them. The data manifest (``MANIFEST.md`` under :func:`mlsimcse.paths.data_root`) states each
folder's licence in prose ("- Licence: SNLI: CC BY-SA 4.0; e-SNLI repo code MIT."); this module reads those
lines and places each on one ordering, from free to bound:

public domain < permissive (MIT, Apache, BSD) < CC BY < CC BY-SA < CC BY-NC < CC BY-NC-SA < CC BY-ND
< CC BY-NC-ND < other terms < unknown.

A line that names several licences (data under one, code under another, a translation of a corpus under a
third) counts as its strictest one: nothing in it may be ignored. A line that names none of the licences
above holds custom terms ("research use", "no explicit licence") and ranks as ``other``; a source with no
line at all is ``unknown``, which outranks everything, since nothing may be assumed about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from mlsimcse.paths import data_root

FAMILIES = ("public-domain", "permissive", "cc-by", "cc-by-sa", "cc-by-nc", "cc-by-nc-sa", "cc-by-nd",
            "cc-by-nc-nd", "other", "unknown")
"""Licence families from the least to the most restrictive; a later one binds a model more."""

_CC = re.compile(r"\bCC[\s-]*BY((?:[\s-]*(?:NC|SA|ND))*)(?:[\s-]*(\d\.\d))?", re.I)
_PERMISSIVE = ((re.compile(r"\bMIT\b"), "mit"), (re.compile(r"\bApache(?:[\s-]*(?:License)?[\s,-]*2\.0)?", re.I),
               "apache-2.0"), (re.compile(r"\bBSD\b"), "bsd"))
_PUBLIC_DOMAIN = ((re.compile(r"\bCC0\b", re.I), "cc0-1.0"), (re.compile(r"public[\s-]+domain", re.I), "other"))


@dataclass(frozen=True)
class Licence:
    """One licence as a model card's ``license:`` names it (a Hub identifier) and where it ranks."""

    family: str
    hub_id: str  # the Hub's identifier: cc-by-sa-4.0, mit, other, unknown
    text: str = ""  # the statement it was read from

    @property
    def rank(self) -> int:
        return FAMILIES.index(self.family)


UNKNOWN = Licence("unknown", "unknown")


def classify(text: str | None) -> Licence:
    """The strictest licence a licence statement names; ``other`` when it names none, ``unknown`` when empty."""
    if not text or not text.strip():
        return UNKNOWN
    found = [_cc_licence(match, text) for match in _CC.finditer(text)]
    found += [Licence("permissive", hub_id, text) for pattern, hub_id in _PERMISSIVE if pattern.search(text)]
    found += [Licence("public-domain", hub_id, text) for pattern, hub_id in _PUBLIC_DOMAIN if pattern.search(text)]
    if not found:
        return Licence("other", "other", text)
    return max(found, key=lambda licence: licence.rank)  # the first of equally strict ones


def _cc_licence(match: re.Match, text: str) -> Licence:
    terms = {term.upper() for term in re.findall(r"NC|SA|ND", match.group(1), re.I)}
    family = "cc-by" + "".join(f"-{term.lower()}" for term in ("NC", "SA", "ND") if term in terms)
    if {"SA", "ND"} <= terms:  # not a licence that exists: read as the stricter no-derivatives one
        family = family.replace("-sa", "")
    version = match.group(2)
    return Licence(family, f"{family}-{version}" if version else "other", text)


def most_restrictive(licences: Iterable[tuple[str, Licence]]) -> tuple[str, Licence]:
    """The ``(what, licence)`` pair that binds most (the first of equally strict ones); unknown when empty."""
    chosen: tuple[str, Licence] | None = None
    for pair in licences:
        if chosen is None or pair[1].rank > chosen[1].rank:
            chosen = pair
    return chosen or ("no training data recorded", UNKNOWN)


def manifest_licences() -> dict[str, str]:
    """Data folder -> its full licence statement, read from the shared data's MANIFEST.md (empty when absent)."""
    manifest = data_root() / "MANIFEST.md"
    if not manifest.is_file():
        return {}
    licences, folder = {}, None
    for line in manifest.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## ([\w\-.]+)/", line)
        if heading:
            folder = heading.group(1)
        elif folder and line.startswith("- Licence:"):
            licences[folder] = line.removeprefix("- Licence:").strip()
    return licences
