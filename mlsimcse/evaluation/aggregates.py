"""Named averages over tasks, each saying exactly which tasks (languages, tracks) it covers.

An average over an unstated set of languages is how numbers stop being comparable, so every average here
has a fixed member list, a title matching the tables it appears in, and is only reported when all its
members were evaluated. :func:`average_results` averages any other list of tasks the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from mlsimcse.errors import InputError
from mlsimcse.evaluation.languages import STSB_NON_ENGLISH_10, TATOEBA_ALL_112, TATOEBA_XNLI_14, TATOEBA_XTREME_36
from mlsimcse.evaluation.languages import NEWS_XNLI_14, UN_BUCC_5
from mlsimcse.evaluation.loaders.sts17 import STS17_TRACKS
from mlsimcse.evaluation.results import TaskResult


@dataclass(frozen=True)
class Aggregate:
    """An unweighted mean of its members' main scores (and of every score key they all share)."""

    name: str
    title: str
    members: tuple[str, ...]


XSTS_9_LANGUAGES = ("de", "es", "fr", "it", "nl", "pl", "pt", "ru", "zh")
"""The stsb_multi_mt languages but Japanese: those the quickstart pairs with English in training."""

STS17_6_TRACKS = ("ar-ar", "ar-en", "es-es", "es-en-4a", "en-en", "tr-en")
"""The STS17 tracks MTEB's STS17 also has; track 4b (WMT news, es-en) is left out as MTEB leaves it out."""

AGGREGATES: tuple[Aggregate, ...] = (
    # MTEB's multilingual STS-B: English and the nine translations without Japanese (the issue-7 yardstick).
    Aggregate("stsb-multi-avg-10", "STS-B multi avg (10)", tuple(f"stsb:{lang}" for lang in ("en", *XSTS_9_LANGUAGES))),
    Aggregate("stsb-xx-avg-10", "STS-B non-English avg (10)", tuple(f"stsb:{lang}" for lang in STSB_NON_ENGLISH_10)),
    Aggregate("xstsb-avg-9", "xSTS en->xx avg (9)", tuple(f"xstsb:en-{lang}" for lang in XSTS_9_LANGUAGES)),
    Aggregate("xstsb-avg-10", "xSTS en->xx avg (10)", tuple(f"xstsb:en-{lang}" for lang in STSB_NON_ENGLISH_10)),
    Aggregate("sts17-avg-6", "STS17 avg (6)", tuple(f"sts17:{track}" for track in STS17_6_TRACKS)),
    Aggregate("sts17-avg-7", "STS17 avg (7)", tuple(f"sts17:{track}" for track in STS17_TRACKS)),
    Aggregate("tatoeba-xnli14-avg", "Tatoeba-14 avg", tuple(f"tatoeba:{lang}" for lang in TATOEBA_XNLI_14)),
    Aggregate(
        "tatoeba-xtreme36-avg", "Tatoeba-36 avg (XTREME)", tuple(f"tatoeba:{lang}" for lang in TATOEBA_XTREME_36)
    ),
    Aggregate("tatoeba-all112-avg", "Tatoeba-112 avg", tuple(f"tatoeba:{lang}" for lang in TATOEBA_ALL_112)),
    # The held-out domains (news, UN documents): the same XNLI languages as Tatoeba-14, and the five UN languages.
    Aggregate("news-xnli14-avg", "News-14 avg", tuple(f"news:{lang}" for lang in NEWS_XNLI_14)),
    Aggregate("un-bucc-avg-5", "UN mining avg (5)", tuple(f"un-bucc:{lang}" for lang in UN_BUCC_5)),
    Aggregate(
        "senteval-sts-avg-7",
        "SimCSE STS avg (7)",
        ("sts12", "sts13", "sts14", "sts15", "sts16", "stsb:en", "sickr"),
    ),
)


def aggregate_results(results: Sequence[TaskResult]) -> list[TaskResult]:
    """The named averages whose members are all among ``results``."""
    present = {result.task for result in results}
    return [
        average_results(results, aggregate.members, name=aggregate.name, title=aggregate.title)
        for aggregate in AGGREGATES
        if present.issuperset(aggregate.members)
    ]


def average_results(results: Sequence[TaskResult], members: Sequence[str], *, name: str, title: str) -> TaskResult:
    """Unweighted mean of the main scores of ``members`` (task names), as a result of its own.

    Its ``data_sha256`` hashes the members' data hashes, so it changes whenever any member's data does.
    """
    by_task = {result.task: result for result in results}
    missing = [member for member in members if member not in by_task]
    if missing or not members:
        raise InputError(f"cannot average {title!r}: no results for {', '.join(missing) or 'any task'}")
    chosen = [by_task[member] for member in members]
    main_metrics = {result.main_metric for result in chosen}
    if len(main_metrics) != 1:
        raise InputError(f"cannot average {title!r}: members have different main metrics {sorted(main_metrics)}")
    evaluators = {result.evaluator for result in chosen}
    if len(evaluators) != 1:
        raise InputError(f"cannot average {title!r}: members were scored by different evaluators {sorted(evaluators)}")
    shared_keys = [key for key in chosen[0].scores if all(key in result.scores for result in chosen)]
    scores = {key: sum(result.scores[key] for result in chosen) / len(chosen) for key in shared_keys}
    listing = "".join(f"{result.task} {result.data_sha256}\n" for result in chosen)
    return TaskResult(
        task=name,
        protocol=f"unweighted mean of the {len(chosen)} tasks' scores: {' '.join(members)}",
        main_score=sum(result.main_score for result in chosen) / len(chosen),
        scores=scores,
        details={"title": title, "members": {result.task: result.main_score for result in chosen}},
        data_sha256=hashlib.sha256(listing.encode("utf-8")).hexdigest(),
        main_metric=main_metrics.pop(),
        evaluator=evaluators.pop(),
    )
