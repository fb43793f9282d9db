"""NTREX-128: WMT newstest2019's 1,997 English source sentences, translated by professionals into 128 languages.

Every language file is line-aligned with the English source, so each language is a news-domain retrieval set
against English. News is a domain the training recipes do not draw on once decontaminated (NTREX-128 is among
the evaluation sets they remove), which makes it a check on a recipe chosen on other tasks. Languages are named
by the file names' codes (``arb``, ``zho_Hans``); the two-letter codes the data recipes use (``ar``, ``zh``)
and the LASER codes of the Tatoeba tasks (``ara``, ``cmn``) name the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlsimcse.eval_files import NTREX, local_path
from mlsimcse.evaluation.loaders.hub import HubTable
from mlsimcse.evaluation.loaders.parallel import ParallelSet, read_parallel_or_hub

ENGLISH_FILE_CODE = "eng-US"
"""The newstest2019 source itself (``eng-GB`` and ``eng-IN`` are localisations of it)."""

HUB_DATASET = "mteb/NTREX"
"""One row per sentence, one column per language (``eng_Latn``, ``arb_Arab``, ...), split ``test``."""

HUB_ENGLISH_COLUMN = "eng_Latn"


@dataclass(frozen=True)
class NtrexLanguage:
    """A language's NTREX file code, its column on the Hub, and the other codes that name it."""

    code: str
    hub_column: str
    iso639_1: str
    laser: str | None = None  # only where the Tatoeba task's code differs from ``code``


NTREX_LANGUAGES = tuple(
    NtrexLanguage(*row.split())
    for row in """
    arb arb_Arab ar ara
    ben ben_Beng bn
    bul bul_Cyrl bg
    ces ces_Latn cs
    deu deu_Latn de
    ell ell_Grek el
    fas fas_Arab fa pes
    fra fra_Latn fr
    heb heb_Hebr he
    hin hin_Deva hi
    ind ind_Latn id
    ita ita_Latn it
    jpn jpn_Jpan ja
    kor kor_Hang ko
    nld nld_Latn nl
    pol pol_Latn pl
    por por_Latn pt
    rus rus_Cyrl ru
    spa spa_Latn es
    swa swa_Latn sw swh
    tha tha_Thai th
    tur tur_Latn tr
    ukr ukr_Cyrl uk
    urd urd_Arab ur
    vie vie_Latn vi
    zho_Hans zho_Hans zh cmn
    """.strip().splitlines()
)
"""The 26 non-English languages of the shared NTREX-128 copy (the data recipes' NTREX languages); each row is the
file code, the Hub column, the two-letter code, and the LASER code where it differs from the file code."""

NTREX_CODES: dict[str, NtrexLanguage] = {
    alias: language
    for language in NTREX_LANGUAGES
    for alias in (language.code, language.iso639_1, language.laser)
    if alias
}
"""Every accepted name of a language -> the language."""


def ntrex_paths(code: str) -> tuple[Path, Path]:
    """The language's file and the English one, under the data root."""
    return local_path(NTREX, code=code), local_path(NTREX, code=ENGLISH_FILE_CODE)


def read_ntrex(code: str) -> ParallelSet:
    """NTREX-128 pairs for one language (``code`` an NTREX file code): xx side as sources, English as targets."""
    language = NTREX_CODES[code]
    form = HubTable(HUB_DATASET, None, "test", (language.hub_column, HUB_ENGLISH_COLUMN))
    return read_parallel_or_hub(*ntrex_paths(language.code), form)
