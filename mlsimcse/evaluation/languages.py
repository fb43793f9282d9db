"""The standard language sets results are averaged over, named so an average always says what it covers.

Tatoeba uses LASER's three-letter codes (``cmn`` is Mandarin, ``swh`` Swahili, ``pes`` Persian).
NTREX-128 uses its file names' codes (``arb`` Arabic, ``swa`` Swahili, ``zho_Hans`` simplified Chinese).
"""

from __future__ import annotations

TATOEBA_ALL_112 = tuple(
    """afr amh ang ara arq arz ast awa aze bel ben ber bos bre bul cat cbk ceb ces cha cmn cor csb cym dan deu
    dsb dtp ell epo est eus fao fin fra fry gla gle glg gsw heb hin hrv hsb hun hye ido ile ina ind isl ita jav
    jpn kab kat kaz khm kor kur kzj lat lfn lit lvs mal mar max mhr mkd mon nds nld nno nob nov oci orv pam pes
    pms pol por ron rus slk slv spa sqi srp swe swg swh tam tat tel tgl tha tuk tur tzl uig ukr urd uzb vie war
    wuu xho yid yue zsm""".split()
)
"""Every language of LASER's Tatoeba test set (Artetxe & Schwenk 2019)."""

TATOEBA_XNLI_14 = ("ara", "bul", "deu", "ell", "spa", "fra", "hin", "rus", "swh", "tha", "tur", "urd", "vie", "cmn")
"""The 14 non-English XNLI languages (ar bg de el es fr hi ru sw th tr ur vi zh) in LASER codes."""

TATOEBA_XTREME_36 = tuple(
    """afr ara ben bul deu cmn ell est eus fin fra heb hin hun ind ita jav jpn kat kaz kor mal mar nld pes por
    rus spa swh tam tel tgl tha tur urd vie""".split()
)
"""XTREME's 36 Tatoeba languages (Hu et al. 2020)."""

STSB_NON_ENGLISH_10 = ("de", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh")
"""The ten machine-translated languages of ``stsb_multi_mt``."""

NEWS_XNLI_14 = ("arb", "bul", "deu", "ell", "spa", "fra", "hin", "rus", "swa", "tha", "tur", "urd", "vie", "zho_Hans")
"""The 14 non-English XNLI languages in NTREX-128's codes: Latin, Cyrillic, Arabic, Devanagari, Thai, Greek and
Han scripts, the same languages as :data:`TATOEBA_XNLI_14` so the two averages can be set side by side."""

UN_BUCC_5 = ("ar", "es", "fr", "ru", "zh")
"""The UN Parallel Corpus v1.0 languages besides English, each mined against English (``un-bucc``)."""
