"""Task names -> tasks, plus the named groups of tasks; the names themselves are described in
:mod:`mlsimcse.evaluation.task_names`, which holds the suites."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable

from mlsimcse.errors import InputError
from mlsimcse.evaluation.languages import (
    NEWS_XNLI_14,
    STSB_NON_ENGLISH_10,
    TATOEBA_ALL_112,
    TATOEBA_XNLI_14,
    TATOEBA_XTREME_36,
    UN_BUCC_5,
)
from mlsimcse.evaluation.loaders.ntrex import ENGLISH_FILE_CODE, NTREX_CODES, NTREX_LANGUAGES, read_ntrex
from mlsimcse.evaluation.loaders.parallel import read_parallel_files, read_tatoeba
from mlsimcse.evaluation.loaders.senteval import (
    SENTEVAL_STS_SUBSETS,
    read_senteval_sts,
    read_sick_relatedness_dev,
    read_sick_relatedness_test,
)
from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS, read_sts17
from mlsimcse.evaluation.loaders.sts_pairs import STSPairs
from mlsimcse.evaluation.loaders.stsb import STSB_LANGUAGES, read_cross_lingual_stsb, read_stsb
from mlsimcse.evaluation.task_names import SUITES
from mlsimcse.evaluation.tasks.base import Task
from mlsimcse.evaluation.tasks.bucc import BuccTask, UnBuccTask
from mlsimcse.evaluation.tasks.geometry import GeometryTask
from mlsimcse.evaluation.tasks.retrieval import TranslationRetrievalTask
from mlsimcse.evaluation.tasks.sts import STSTask
from mlsimcse.paths import data_root

STS_METRIC = "Spearman x100 (and Pearson) of cosine similarity vs gold over all scored pairs"
SENTEVAL_TEXT = "sentences whitespace-tokenised and re-joined as SentEval does"
RETRIEVAL_METRIC = (
    "cosine nearest-neighbour accuracy % xx->en and en->xx, main = their mean; a hit when the retrieved text "
    "equals the gold translation's text (as sentence-transformers' TranslationEvaluator)"
)
BUCC_DEFAULT_SPLITS = ("sample", "training")

GROUPS: dict[str, tuple[str, ...]] = {
    "stsb": tuple(f"stsb:{language}" for language in STSB_LANGUAGES),
    "stsb-dev": tuple(f"stsb-dev:{language}" for language in STSB_LANGUAGES),
    "xstsb": tuple(f"xstsb:en-{language}" for language in STSB_NON_ENGLISH_10),
    "sts17": tuple(f"sts17:{track}" for track in STS17_TRACKS),
    "senteval-sts": ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb:en", "sickr"),
    "tatoeba": tuple(f"tatoeba:{language}" for language in TATOEBA_ALL_112),
    "tatoeba-xnli14": tuple(f"tatoeba:{language}" for language in TATOEBA_XNLI_14),
    "tatoeba-xtreme36": tuple(f"tatoeba:{language}" for language in TATOEBA_XTREME_36),
    "news-xnli14": tuple(f"news:{language}" for language in NEWS_XNLI_14),
    "un-bucc": tuple(f"un-bucc:{language}" for language in UN_BUCC_5),
}


def resolve_tasks(tasks: list[str] | tuple[str, ...] | str) -> list[Task]:
    """Tasks for a suite name, or for a list of task, group and suite names (duplicates dropped, order kept)."""
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    if not names:
        raise InputError("no tasks given")
    expanded = dict.fromkeys(name for requested in names for name in _expand(requested.strip()))
    tasks = {}
    for name in expanded:  # an alias (news:de) builds the task under its one name (news:deu): keep it once
        task = build_task(name)
        tasks.setdefault(task.name, task)
    return list(tasks.values())


def build_task(name: str) -> Task:
    """The task a single task name stands for."""
    family, _, argument = name.partition(":")
    builder = _FAMILIES.get(family)
    if builder is None:
        raise InputError(
            f"unknown task {name!r}; task families: {', '.join(_FAMILIES)}; groups: {', '.join(GROUPS)}; "
            f"suites: {', '.join(SUITES)}"
        )
    return builder(name, argument)


def _expand(name: str) -> list[str]:
    if name in SUITES:
        return [task for member in SUITES[name] for task in _expand(member)]
    if name in GROUPS:
        return list(GROUPS[name])
    return [name]


def _choice(name: str, argument: str, allowed, what: str) -> str:
    if argument not in allowed:
        raise InputError(f"task {name!r}: unknown {what} {argument!r}; choose one of {' '.join(allowed)}")
    return argument


def _no_argument(name: str, argument: str) -> None:
    if argument:
        raise InputError(f"task {name!r} takes no argument after ':'")


def _stsb(split: str) -> Callable[[str, str], Task]:
    def build(name: str, argument: str) -> Task:
        language = _choice(name, argument, STSB_LANGUAGES, "STS-B language")
        protocol = (
            f"{STS_METRIC}; stsb_multi_mt {language} {split} (as sentence-transformers' EmbeddingSimilarityEvaluator)"
        )
        return STSTask(name, protocol, partial(read_stsb, language, split))

    return build


def _cross_lingual_stsb(split: str) -> Callable[[str, str], Task]:
    def build(name: str, argument: str) -> Task:
        first, _, second = argument.partition("-")
        _choice(name, first, STSB_LANGUAGES, "STS-B language")
        _choice(name, second, STSB_LANGUAGES, "STS-B language")
        if first == second:
            raise InputError(f"task {name!r}: a cross-lingual pair needs two different languages (use stsb:{first})")
        protocol = (
            f"{STS_METRIC}; cross-lingual STS-B {split}: sentence1 from the {first} file, sentence2 from the "
            f"{second} file of stsb_multi_mt (parallel rows, shared gold)"
        )
        return STSTask(name, protocol, partial(read_cross_lingual_stsb, first, second, split))

    return build


def _sts17(name: str, argument: str) -> Task:
    track = STS17_TRACKS[_choice(name, argument, tuple(STS17_TRACKS), "STS17 track")]
    protocol = f"{STS_METRIC}; SemEval-2017 STS {track.file_stem}"
    if track.scored_prefix_only:
        protocol += " (the first input lines, those with gold scores, as mSimCSE and MTEB)"
    return STSTask(name, protocol, partial(read_sts17, argument))


def _senteval_sts(name: str, argument: str) -> Task:
    _no_argument(name, argument)
    year, subsets = SENTEVAL_STS_SUBSETS[name]
    protocol = (
        f"{STS_METRIC}, pooled over the {year} subsets {' '.join(subsets)} (SentEval 'all' aggregation, as "
        f"SimCSE reports); rows without a gold score dropped; {SENTEVAL_TEXT}"
    )
    return STSTask(name, protocol, partial(read_senteval_sts, name))


def _sick_relatedness(split: str, read: Callable[[], STSPairs]) -> Callable[[str, str], Task]:
    """SICK relatedness on ``split`` (the protocol's words for it), read by ``read``: test, or trial + train as dev."""

    def build(name: str, argument: str) -> Task:
        _no_argument(name, argument)
        return STSTask(name, f"{STS_METRIC}; {split}; {SENTEVAL_TEXT}", read)

    return build


def _tatoeba(name: str, argument: str) -> Task:
    language = _choice(name, argument, TATOEBA_ALL_112, "Tatoeba language")
    protocol = f"LASER Tatoeba {language}-eng: {RETRIEVAL_METRIC}"
    return TranslationRetrievalTask(
        name, protocol, partial(read_tatoeba, language), source_label="xx", target_label="en"
    )


def _news(name: str, argument: str) -> Task:
    """NTREX-128 retrieval; a two-letter or LASER code is an alias, the task is named by the NTREX code."""
    if argument not in NTREX_CODES:
        codes = " ".join(language.code for language in NTREX_LANGUAGES)
        raise InputError(
            f"task {name!r}: unknown NTREX-128 language {argument!r}; choose one of {codes} "
            "(or their two-letter codes)"
        )
    code = NTREX_CODES[argument].code
    protocol = (
        f"NTREX-128 newstest2019 {code}-eng (English: the {ENGLISH_FILE_CODE} source; news, 1,997 sentences, "
        f"both directions): {RETRIEVAL_METRIC}"
    )
    return TranslationRetrievalTask(
        f"news:{code}", protocol, partial(read_ntrex, code), source_label="xx", target_label="en"
    )


def _parallel_files(name: str, argument: str) -> Task:
    source, comma, target = argument.partition(",")
    if not comma or not source or not target:
        raise InputError(f"task {name!r}: expected parallel:SOURCE_FILE,TARGET_FILE")
    protocol = (
        f"line-aligned files {source} and {target}: cosine nearest-neighbour accuracy % in both directions, "
        "main = their mean; a hit when the retrieved text equals the gold translation's text"
    )
    return TranslationRetrievalTask(
        name, protocol, partial(read_parallel_files, Path(source), Path(target)), source_label="src", target_label="tgt"
    )


def _bucc(name: str, argument: str) -> Task:
    parts = argument.split(":")
    if len(parts) >= 3:
        location, tune_split, report_split = ":".join(parts[:-2]), parts[-2], parts[-1]
    elif len(parts) == 1 and parts[0]:
        location, (tune_split, report_split) = parts[0], BUCC_DEFAULT_SPLITS
    else:
        raise InputError(f"task {name!r}: expected bucc:FOLDER or bucc:FOLDER:TUNE_SPLIT:REPORT_SPLIT")
    is_path = "/" in location or os.sep in location
    folder = Path(location) if is_path else data_root() / "bucc2018" / location
    return BuccTask(name, folder, tune_split, report_split)


def _un_bucc(name: str, argument: str) -> Task:
    return UnBuccTask(name, _choice(name, argument, UN_BUCC_5, "UN language"))


def _geometry(name: str, argument: str) -> Task:
    language = _choice(name, argument or "en", STSB_LANGUAGES, "STS-B language")
    return GeometryTask(name, language)


_FAMILIES: dict[str, Callable[[str, str], Task]] = {
    "stsb": _stsb("test"),
    "stsb-dev": _stsb("dev"),
    "xstsb": _cross_lingual_stsb("test"),
    "xstsb-dev": _cross_lingual_stsb("dev"),
    "sts17": _sts17,
    **{task: _senteval_sts for task in SENTEVAL_STS_SUBSETS},
    "sickr": _sick_relatedness("SICK test relatedness (SentEval SICK-R test, as SimCSE reports)",
                               read_sick_relatedness_test),
    "sickr-dev": _sick_relatedness("SICK trial + train relatedness (5,000 pairs, a dev set: no recipe trains on SICK)",
                                   read_sick_relatedness_dev),
    "tatoeba": _tatoeba,
    "parallel": _parallel_files,
    "bucc": _bucc,
    "news": _news,
    "un-bucc": _un_bucc,
    "geometry": _geometry,
}
