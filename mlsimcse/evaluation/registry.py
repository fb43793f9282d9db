"""Task names -> tasks, plus named groups of tasks and the suites the CLI offers.

Task names (FAMILY:ARGUMENT):
  stsb:LANG                STS-B test, LANG in en de es fr it ja nl pl pt ru zh (stsb_multi_mt)
  stsb-dev:LANG            the same on the dev split (fast: the trainer's checkpoint selection)
  xstsb:L1-L2              cross-lingual STS-B test: sentence1 in L1, sentence2 in L2
  xstsb-dev:L1-L2          the same on dev
  sts17:TRACK              STS17: ar-ar ar-en es-es es-en-4a es-en-4b en-en tr-en
  sts12 ... sts16          SentEval STS with the "all" aggregation
  sickr                    SICK-R test
  tatoeba:LANG             LASER Tatoeba retrieval, LANG a LASER code (deu, cmn, swh, ...)
  parallel:SRC,TGT         retrieval between any two line-aligned files
  bucc:FOLDER[:TUNE:EVAL]  BUCC mining; FOLDER a path named SRC-TGT, or a pair under DATA_ROOT/bucc2018;
                           threshold tuned on split TUNE (default sample), reported on EVAL (default training)
  geometry[:LANG]          alignment, uniformity, anisotropy on STS-B test (default en)

Groups: stsb, stsb-dev (11 languages each), xstsb (en->each of the 10 others), sts17 (7 tracks),
senteval-sts (SimCSE's 7 English tasks), tatoeba (112), tatoeba-xnli14, tatoeba-xtreme36.
Suites: quick (stsb xstsb sts17 tatoeba-xnli14), multilingual (the same with all of tatoeba),
english-senteval (senteval-sts geometry), full (all of them).
Averages such as "STS-B multi avg (10)" are added whenever all their tasks ran (see aggregates).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable

from mlsimcse.errors import InputError
from mlsimcse.evaluation.languages import (
    STSB_NON_ENGLISH_10,
    TATOEBA_ALL_112,
    TATOEBA_XNLI_14,
    TATOEBA_XTREME_36,
)
from mlsimcse.evaluation.loaders.parallel import read_parallel_files, read_tatoeba
from mlsimcse.evaluation.loaders.senteval import SENTEVAL_STS_SUBSETS, read_senteval_sts, read_sick_relatedness_test
from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS, read_sts17
from mlsimcse.evaluation.loaders.stsb import STSB_LANGUAGES, read_cross_lingual_stsb, read_stsb
from mlsimcse.evaluation.tasks.base import Task
from mlsimcse.evaluation.tasks.bucc import BuccTask
from mlsimcse.evaluation.tasks.geometry import GeometryTask
from mlsimcse.evaluation.tasks.retrieval import TranslationRetrievalTask
from mlsimcse.evaluation.tasks.sts import STSTask
from mlsimcse.paths import data_root

STS_METRIC = "Spearman x100 (and Pearson) of cosine similarity vs gold over all scored pairs"
SENTEVAL_TEXT = "sentences whitespace-tokenised and re-joined as SentEval does"
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
}

SUITES: dict[str, tuple[str, ...]] = {
    "quick": ("stsb", "xstsb", "sts17", "tatoeba-xnli14"),
    "multilingual": ("stsb", "xstsb", "sts17", "tatoeba"),
    "english-senteval": ("senteval-sts", "geometry"),
    "full": ("stsb", "xstsb", "sts17", "tatoeba", "senteval-sts", "geometry"),
}


def resolve_tasks(tasks: list[str] | tuple[str, ...] | str) -> list[Task]:
    """Tasks for a suite name, or for a list of task, group and suite names (duplicates dropped, order kept)."""
    names = [tasks] if isinstance(tasks, str) else list(tasks)
    if not names:
        raise InputError("no tasks given")
    expanded = dict.fromkeys(name for requested in names for name in _expand(requested.strip()))
    return [build_task(name) for name in expanded]


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


def _sick_relatedness(name: str, argument: str) -> Task:
    _no_argument(name, argument)
    protocol = f"{STS_METRIC}; SICK test relatedness (SentEval SICK-R test, as SimCSE reports); {SENTEVAL_TEXT}"
    return STSTask(name, protocol, read_sick_relatedness_test)


def _tatoeba(name: str, argument: str) -> Task:
    language = _choice(name, argument, TATOEBA_ALL_112, "Tatoeba language")
    protocol = (
        f"LASER Tatoeba {language}-eng: cosine nearest-neighbour accuracy % xx->en and en->xx, main = their mean; "
        "a hit when the retrieved text equals the gold translation's text (as sentence-transformers' "
        "TranslationEvaluator)"
    )
    return TranslationRetrievalTask(
        name, protocol, partial(read_tatoeba, language), source_label="xx", target_label="en"
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
    "sickr": _sick_relatedness,
    "tatoeba": _tatoeba,
    "parallel": _parallel_files,
    "bucc": _bucc,
    "geometry": _geometry,
}
