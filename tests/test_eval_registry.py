"""Task names, groups, suites and the named averages resolve to exactly the documented sets."""

from __future__ import annotations

import pytest

from mlsimcse.errors import InputError
from mlsimcse.evaluation import AGGREGATES, average_results, resolve_tasks
from mlsimcse.evaluation.aggregates import aggregate_results
from mlsimcse.evaluation.languages import TATOEBA_ALL_112, TATOEBA_XNLI_14, TATOEBA_XTREME_36
from mlsimcse.evaluation.results import TaskResult


def names(tasks):
    return [task.name for task in tasks]


def test_language_sets_have_their_standard_sizes():
    assert len(set(TATOEBA_ALL_112)) == len(TATOEBA_ALL_112) == 112
    assert len(set(TATOEBA_XTREME_36)) == 36 and set(TATOEBA_XTREME_36) <= set(TATOEBA_ALL_112)
    assert len(set(TATOEBA_XNLI_14)) == 14 and set(TATOEBA_XNLI_14) <= set(TATOEBA_XTREME_36)


def test_quick_suite_is_stsb_xstsb_sts17_and_tatoeba14():
    quick = names(resolve_tasks("quick"))
    assert len(quick) == 11 + 10 + 7 + 14
    assert quick[:2] == ["stsb:en", "stsb:de"]
    assert "xstsb:en-zh" in quick and "sts17:tr-en" in quick and "tatoeba:cmn" in quick
    assert not any(name.startswith(("sts12", "sickr", "tatoeba:afr")) for name in quick)


def test_suites_and_groups_expand_without_duplicates():
    assert len(names(resolve_tasks("multilingual"))) == 11 + 10 + 7 + 112
    assert names(resolve_tasks("english-senteval")) == [
        "sts12", "sts13", "sts14", "sts15", "sts16", "stsb:en", "sickr", "geometry"
    ]
    full = names(resolve_tasks("full"))
    assert len(full) == len(set(full)) == 11 + 10 + 7 + 112 + 6 + 1
    assert names(resolve_tasks(["stsb:de", "stsb", "stsb:de"]))[:2] == ["stsb:de", "stsb:en"]


def test_protocols_name_what_they_compute():
    by_name = {task.name: task for task in resolve_tasks(["sts12", "xstsb:en-de", "sts17:tr-en", "tatoeba:deu"])}
    assert "SentEval 'all' aggregation" in by_name["sts12"].protocol
    assert "sentence1 from the en file, sentence2 from the de file" in by_name["xstsb:en-de"].protocol
    assert "first input lines" in by_name["sts17:tr-en"].protocol
    assert "xx->en and en->xx" in by_name["tatoeba:deu"].protocol


def test_empty_task_list_is_an_error():
    with pytest.raises(InputError, match="no tasks"):
        resolve_tasks([])


def result(task: str, main: float, extra: float = 0.0) -> TaskResult:
    return TaskResult(task, "p", main, {"spearman": main, "pearson": extra}, data_sha256=task, main_metric="spearman")


def test_named_averages_appear_only_when_complete_and_say_what_they_cover():
    by_name = {aggregate.name: aggregate for aggregate in AGGREGATES}
    multi = by_name["stsb-multi-avg-10"]
    assert multi.title == "STS-B multi avg (10)" and len(multi.members) == 10
    assert "stsb:en" in multi.members and "stsb:ja" not in multi.members  # MTEB's ten languages
    results = [result(member, float(i)) for i, member in enumerate(multi.members)]
    averages = aggregate_results(results)
    assert [a.task for a in averages] == ["stsb-multi-avg-10"]
    assert averages[0].main_score == pytest.approx(4.5)
    assert averages[0].details["title"] == "STS-B multi avg (10)"
    assert list(averages[0].details["members"]) == list(multi.members)
    assert aggregate_results(results[:-1]) == []


def test_average_over_a_custom_list_and_its_errors():
    results = [result("a", 10.0, 1.0), result("b", 20.0, 3.0)]
    mean = average_results(results, ["a", "b"], name="ab", title="A and B")
    assert mean.main_score == pytest.approx(15.0) and mean.scores["pearson"] == pytest.approx(2.0)
    assert mean.data_sha256 != average_results(results[::-1], ["b", "a"], name="ab", title="A and B").data_sha256
    with pytest.raises(InputError, match="no results for c"):
        average_results(results, ["a", "c"], name="ac", title="A and C")
